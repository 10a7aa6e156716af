// The Tensor: Float32, contiguous, row-major, over one pooled Storage. Reshape
// shares the storage. Autograd state (requiresGrad, grad) lives here too.
import Foundation

public final class Tensor {
    public let shape: [Int]
    public let count: Int
    public let storage: Storage
    /// Whether gradients flow to this tensor (parameters, and results of ops on them).
    public var requiresGrad: Bool
    /// Accumulated gradient, same shape; nil until backward reaches this tensor.
    public var grad: Tensor?
    /// Set on parameters (dotted name) for messages.
    public var name: String?

    @inline(__always) public var data: UnsafeMutablePointer<Float> { storage.pointer }
    public var ndim: Int { shape.count }

    /// Uninitialised tensor from the pool.
    public init(uninitialized shape: [Int], requiresGrad: Bool = false) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = Storage(count: count)
        self.requiresGrad = requiresGrad
    }

    /// A view of `storage` with another shape (same element count).
    init(shape: [Int], storage: Storage, requiresGrad: Bool) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(uninitialized: shape, requiresGrad: requiresGrad)
        data.initialize(repeating: 0, count: count)
    }

    public convenience init(repeating v: Float, shape: [Int], requiresGrad: Bool = false) {
        self.init(uninitialized: shape, requiresGrad: requiresGrad)
        data.initialize(repeating: v, count: count)
    }

    /// From values; throws when the count does not match the shape.
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) throws {
        let n = shape.reduce(1, *)
        guard n == values.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.invalidArgument(op: "Tensor", message: "\(values.count) values do not fill shape \(shapeString(shape))")
        }
        self.init(uninitialized: shape, requiresGrad: requiresGrad)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: n) }
    }

    /// A 1-D tensor of the values.
    public convenience init(_ values: [Float]) {
        self.init(uninitialized: [values.count])
        values.withUnsafeBufferPointer { if let b = $0.baseAddress { data.update(from: b, count: values.count) } }
    }

    public convenience init(scalar v: Float) { self.init(repeating: v, shape: [1]) }

    /// Uniform in [lo, hi).
    public static func uniform(_ shape: [Int], _ lo: Float = 0, _ hi: Float = 1, rng: inout RNG, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape, requiresGrad: requiresGrad)
        for i in 0..<t.count { t.data[i] = lo + (hi - lo) * rng.uniform() }
        return t
    }

    /// Normal(mean, std).
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, rng: inout RNG, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape, requiresGrad: requiresGrad)
        for i in 0..<t.count { t.data[i] = mean + std * rng.normal() }
        return t
    }

    /// Normal(0, std) redrawn outside [-bound, bound], timm's `trunc_normal_(std=s)`: its cut-offs a = -2,
    /// b = 2 are absolute values, not multiples of std, so at std 0.02 it is a plain normal (std 0.02, not
    /// the 0.0176 of a cut at ±2σ).
    public static func truncatedNormal(_ shape: [Int], std: Float, bound: Float = 2, rng: inout RNG, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape, requiresGrad: requiresGrad)
        for i in 0..<t.count {
            var v = rng.normal() * std
            while Swift.abs(v) > bound { v = rng.normal() * std }
            t.data[i] = v
        }
        return t
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    public var scalar: Float { data[0] }
    public subscript(flat i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// A copy with its own storage, outside the graph.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// The same values, cut from the graph (shares storage).
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage, requiresGrad: false) }

    /// Overwrites the values from another tensor of the same count (no autograd).
    public func assign(_ other: Tensor) throws {
        guard other.count == count else { throw TensorError.shapeMismatch(op: "assign", shapes: [shape, other.shape], expected: "equal element counts") }
        data.update(from: other.data, count: count)
    }

    public func fill(_ v: Float) { data.update(repeating: v, count: count) }
}

extension Tensor: CustomStringConvertible {
    /// One line: shape, and mean/std/min/max, or the values when there are few.
    public var summary: String {
        let sh = shapeString(shape)
        if count == 0 { return "Tensor\(sh) (empty)" }
        if count <= 8 { return "Tensor\(sh) " + array.map { Tensor.fmt($0) }.joined(separator: " ").bracketed }
        var s = 0.0, s2 = 0.0, lo = Float.infinity, hi = -Float.infinity, bad = 0
        for i in 0..<count {
            let v = data[i]
            if !v.isFinite { bad += 1; continue }
            s += Double(v); s2 += Double(v) * Double(v); lo = min(lo, v); hi = max(hi, v)
        }
        let n = Double(count - bad)
        let mean = n > 0 ? s / n : .nan
        let std = n > 0 ? max(0, s2 / n - mean * mean).squareRoot() : .nan
        var out = "Tensor\(sh) mean \(Tensor.fmt(Float(mean))) std \(Tensor.fmt(Float(std))) min \(Tensor.fmt(lo)) max \(Tensor.fmt(hi))"
        if bad > 0 { out += " (\(bad) non-finite)" }
        if requiresGrad { out += " grad" }
        return out
    }

    public var description: String { summary }

    /// A small-tensor print: nested brackets for up to 2-D, rows capped at 8 and columns at 8.
    public var pretty: String {
        if ndim <= 1 { return summary }
        let cols = shape[ndim - 1], rows = count / max(cols, 1)
        var lines = ["Tensor\(shapeString(shape))"]
        for r in 0..<min(rows, 8) {
            var vals = (0..<min(cols, 8)).map { Tensor.fmt(data[r * cols + $0]).leftPad(9) }
            if cols > 8 { vals.append("…") }
            lines.append("  " + vals.joined(separator: " "))
        }
        if rows > 8 { lines.append("  … (\(rows - 8) more rows)") }
        return lines.joined(separator: "\n")
    }

    static func fmt(_ v: Float) -> String {
        if v == 0 { return "0" }
        if !v.isFinite { return "\(v)" }
        let a = Swift.abs(v)
        if a >= 1e4 || a < 1e-3 { return String(format: "%.3e", v) }
        return String(format: "%.4g", v)
    }
}

extension String {
    var bracketed: String { "[" + self + "]" }
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
