// Vector reductions with SIMD16 accumulators (LLVM does not reassociate float
// sums by itself), used by softmax, layernorm and the losses.
import Foundation

public enum Kernels {
    public typealias V = SIMD16<Float>

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always) public static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V(repeating: 0), i = 0
        while i + 16 <= n { acc += load(x + i); i += 16 }
        var s = acc.sum()
        while i < n { s += x[i]; i += 1 }
        return s
    }

    @inline(__always) public static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V(repeating: -.infinity), i = 0
        while i + 16 <= n { let v = load(x + i); acc = acc.replacing(with: v, where: v .> acc); i += 16 }  // pointwiseMax scalarises
        var m = acc.max()
        while i < n { m = Swift.max(m, x[i]); i += 1 }
        return m
    }

    @inline(__always) public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V(repeating: 0), i = 0
        while i + 16 <= n { acc += load(x + i) * load(y + i); i += 16 }
        var s = acc.sum()
        while i < n { s += x[i] * y[i]; i += 1 }
        return s
    }

    /// y = exp(x − shift), returns Σ y.
    @inline(__always) public static func expShifted(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ shift: Float) -> Float {
        for j in 0..<n { y[j] = FastMath.exp(x[j] - shift) }
        return sum(y, n)
    }
}
