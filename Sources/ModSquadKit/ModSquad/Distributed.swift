// Data-parallel training without MPI in sight: a small Communicator (rank, size, all-reduce, broadcast,
// abort) that the trainer, the aux losses, usage statistics and evaluation call; one process by default,
// MPI (MPICommunicator, loaded lazily) when msq runs under mpirun.
import Foundation
import SquadTensor
import SquadNN

public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// What carries the messages (for msq doctor), e.g. "Open MPI 4.1.4".
    var transport: String { get }
    /// Element-wise sum over all ranks, in place.
    func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws
    func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws
    /// Rank `root`'s values into every rank's buffer.
    func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws
    func barrier() throws
    /// Ends every rank of the job (never returns when there is more than one).
    func abort(code: Int32)
}

public enum DistributedError: Error, CustomStringConvertible, Equatable {
    case mpi(call: String, code: Int32, rank: Int)
    case unavailable(String)
    case batch(global: Int, ranks: Int)
    public var description: String {
        switch self {
        case let .mpi(call, code, rank): return "rank \(rank): \(call) failed with MPI error \(code)"
        case let .unavailable(why): return "MPI is not available: \(why)"
        case let .batch(g, n): return "the global batch \(g) is not divisible by the \(n) ranks of this run; pick a batch that is a multiple of \(n)"
        }
    }
}

/// One process: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var transport: String { "none (one process)" }
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {}
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {}
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {}
    public func barrier() throws {}
    public func abort(code: Int32) {}
}

public enum Distributed {
    /// The communicator of this process (set once at start-up by msq run under mpirun).
    nonisolated(unsafe) public static var world: Communicator = SingleProcess()
    public static var rank: Int { world.rank }
    public static var size: Int { world.size }
    public static var isParallel: Bool { world.size > 1 }
    public static var isRoot: Bool { world.rank == 0 }
    /// True inside a data-parallel training step: each rank holds a shard of one global batch, and the
    /// batch statistics (MI's P(t,e), switch balance, usage counts, router noise) are those of the whole batch.
    nonisolated(unsafe) public static var globalBatch = false

    /// Rows [lo, hi) of a global batch of `global` rows that this rank trains on.
    public static func shard(of global: Int) throws -> Range<Int> {
        let n = size
        guard global % n == 0 else { throw DistributedError.batch(global: global, ranks: n) }
        let per = global / n
        return (rank * per)..<((rank + 1) * per)
    }

    /// Sums a tensor over the ranks in the forward; the backward passes the (rank-identical) upstream
    /// gradient times the world size, the adjoint of a sum whose result every rank uses the same way.
    /// The trainer averages gradients over ranks, so the factor makes them add up as in one process.
    public static func allReduced(_ x: Tensor) throws -> Tensor {
        let out = x.copy()
        guard isParallel else { return out }
        try world.allReduceSum(out.data, count: out.count)
        if Autograd.needs(x) {
            let n = Float(size)
            Autograd.record(out) { g in
                accumulate(into: x) { gx, acc in
                    for i in 0..<x.count { gx[i] = (acc ? gx[i] : 0) + n * g.data[i] }
                }
            }
        }
        return out
    }

    /// Sums Doubles over the ranks (metric sums, statistics); returns them unchanged in one process.
    public static func sum(_ values: [Double]) throws -> [Double] {
        guard isParallel, !values.isEmpty else { return values }
        var v = values
        try v.withUnsafeMutableBufferPointer { try world.allReduceSum($0.baseAddress!, count: $0.count) }
        return v
    }

    /// Averages the gradients of `params` over the ranks in one packed buffer (a parameter no rank
    /// touched keeps no gradient, as in one process). Not overlapped with the backward pass.
    public static func averageGradients(_ params: [Tensor]) throws {
        guard isParallel else { return }
        let total = params.reduce(0) { $0 + $1.count } + params.count
        let buf = Tensor(zeros: [total])
        var o = 0
        for p in params {
            if let g = p.grad { (buf.data + o).update(from: g.data, count: p.count); buf.data[o + p.count] = 1 }
            o += p.count + 1
        }
        try world.allReduceSum(buf.data, count: total)
        let inv = 1 / Float(size)
        o = 0
        for p in params {
            if buf.data[o + p.count] > 0 {
                let g = p.grad ?? Tensor(uninitialized: p.shape)
                for i in 0..<p.count { g.data[i] = buf.data[o + i] * inv }
                p.grad = g
            }
            o += p.count + 1
        }
    }

    /// Rank 0's values of every tensor on every rank (initial weights, loaded checkpoints).
    public static func broadcast(_ tensors: [Tensor]) throws {
        guard isParallel else { return }
        let total = tensors.reduce(0) { $0 + $1.count }
        let buf = Tensor(uninitialized: [max(total, 1)])
        var o = 0
        for t in tensors { (buf.data + o).update(from: t.data, count: t.count); o += t.count }
        try world.broadcast(buf.data, count: total, root: 0)
        o = 0
        for t in tensors { t.data.update(from: buf.data + o, count: t.count); o += t.count }
    }
}
