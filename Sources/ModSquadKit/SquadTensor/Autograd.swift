// Reverse-mode autograd on a tape: each op that sees an input needing gradients
// records a backward closure; backward() replays them in reverse, then clears the
// tape so intermediate buffers go back to the pool.
import Foundation

public enum Autograd {
    struct Entry { let output: Tensor; let op: String; let backward: (Tensor) -> Void }
    nonisolated(unsafe) static var tape: [Entry] = []
    nonisolated(unsafe) static var enabledDepth = 0   // >0: no-grad mode

    /// Whether ops record (false inside `noGrad`).
    public static var isEnabled: Bool { enabledDepth == 0 }

    /// Runs `body` without recording anything (inference, optimizer updates).
    public static func noGrad<T>(_ body: () throws -> T) rethrows -> T {
        enabledDepth += 1
        defer { enabledDepth -= 1 }
        return try body()
    }

    @inline(__always) static func check(_ g: Tensor, _ e: Entry, _ previous: String) throws {
        guard detectAnomaly, let bad = (0..<g.count).first(where: { !g.data[$0].isFinite }) else { return }
        Autograd.reset()
        throw TensorError.invalidArgument(op: "backward", message: "non-finite gradient \(g.data[bad]) flowing into the backward of \(e.op) (output \(shapeString(e.output.shape))), produced by the backward of \(previous)")
    }

    /// Drops every recorded op (their buffers return to the pool).
    public static func reset() { tape.removeAll(keepingCapacity: true) }
    public static var recordedOps: Int { tape.count }

    /// Whether an op on these inputs must record.
    @inline(__always) public static func needs(_ inputs: Tensor...) -> Bool {
        guard enabledDepth == 0 else { return false }
        for t in inputs where t.requiresGrad { return true }
        return false
    }

    /// When true, backward() checks each incoming gradient and names the op whose
    /// backward first produced a non-finite value (slow; for debugging).
    nonisolated(unsafe) public static var detectAnomaly = ProcessInfo.processInfo.environment["MSQ_DETECT_ANOMALY"] != nil

    /// Records `backward` (given the output's gradient) for `out`: how fused ops
    /// outside this module (MoE dispatch, the MI loss, plugins) join the tape.
    @inline(__always) public static func record(_ out: Tensor, op: String = #function, _ backward: @escaping (Tensor) -> Void) {
        out.requiresGrad = true
        if Profiler.shared.enabled {
            Profiler.shared.forward(op)
            tape.append(Entry(output: out, op: op, backward: { g in
                let t0 = Profiler.clock(); backward(g); Profiler.shared.backward(op, Profiler.clock() - t0)
            }))
            return
        }
        tape.append(Entry(output: out, op: op, backward: backward))
    }
}

extension Tensor {
    /// Backpropagates from this scalar (or from `seed`, a gradient of this tensor's shape).
    public func backward(seed: Tensor? = nil, retainGraph: Bool = false) throws {
        guard requiresGrad else { throw TensorError.noGradient("tensor \(shapeString(shape)) does not require grad (no parameter reached it, or it was made under noGrad)") }
        if let s = seed {
            guard s.count == count else { throw TensorError.shapeMismatch(op: "backward", shapes: [shape, s.shape], expected: "a seed of the output's shape") }
            accumulate(into: self) { g, acc in for i in 0..<s.count { g[i] = (acc ? g[i] : 0) + s.data[i] } }
        } else {
            guard count == 1 else { throw TensorError.invalidArgument(op: "backward", message: "needs a scalar, got \(shapeString(shape)); pass seed:") }
            accumulate(into: self) { g, acc in g[0] = (acc ? g[0] : 0) + 1 }
        }
        // Entries run in reverse recording order, so every consumer of an output has
        // added its share to output.grad before that output's own backward runs. Without
        // retainGraph each entry is dropped right after it runs: its output's gradient and
        // the activations its closure held go back to the pool during backward, not after.
        var previous = "the seed"
        if retainGraph {
            for e in Autograd.tape.reversed() {
                guard let g = e.output.grad else { continue }
                try Autograd.check(g, e, previous)
                e.backward(g)
                previous = "\(e.op) (output \(shapeString(e.output.shape)))"
            }
            return
        }
        var tape = Autograd.tape
        Autograd.tape = []
        defer { Autograd.reset() }
        while let e = tape.popLast() {
            guard let g = e.output.grad else { continue }
            e.output.grad = nil
            try Autograd.check(g, e, previous)
            e.backward(g)
            previous = "\(e.op) (output \(shapeString(e.output.shape)))"
        }
    }

    /// Sets every gradient to nil.
    public func zeroGrad() { grad = nil }
}

/// Gives `body` the gradient buffer of `t` and whether to accumulate (true) or
/// overwrite (false, a fresh buffer). Does nothing when `t` needs no gradient.
@inline(__always) public func accumulate(into t: Tensor, _ body: (UnsafeMutablePointer<Float>, Bool) -> Void) {
    guard t.requiresGrad else { return }
    if let g = t.grad { body(g.data, true); return }
    let g = Tensor(uninitialized: t.shape)
    body(g.data, false)
    t.grad = g
}
