// Vector reductions with SIMD16 accumulators (LLVM does not reassociate float
// sums by itself), used by softmax, layernorm and the losses.
import Foundation

public enum Kernels {
    public typealias V = SIMD16<Float>

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    /// Horizontal sum and max by halving (SIMD's own .sum() adds the 16 lanes one after another,
    /// and .max() compares and branches lane by lane: both dominate on rows of 64).
    @inline(__always) static func hsum(_ v: V) -> Float {
        let a = v.lowHalf + v.highHalf, b = a.lowHalf + a.highHalf, c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }

    @inline(__always) static func hmax(_ v: V) -> Float {
        var a = v.lowHalf; a.replace(with: v.highHalf, where: v.highHalf .> a)
        var b = a.lowHalf; b.replace(with: a.highHalf, where: a.highHalf .> b)
        var c = b.lowHalf; c.replace(with: b.highHalf, where: b.highHalf .> c)
        return Swift.max(c[0], c[1])
    }

    @inline(__always) public static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V(repeating: 0), i = 0
        while i + 16 <= n { acc += load(x + i); i += 16 }
        var s = hsum(acc)
        while i < n { s += x[i]; i += 1 }
        return s
    }

    @inline(__always) public static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V(repeating: -.infinity), i = 0
        while i + 16 <= n { let v = load(x + i); acc = acc.replacing(with: v, where: v .> acc); i += 16 }  // pointwiseMax scalarises
        var m = hmax(acc)
        while i < n { m = Swift.max(m, x[i]); i += 1 }
        return m
    }

    @inline(__always) public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V(repeating: 0), i = 0
        while i + 16 <= n { acc = acc.addingProduct(load(x + i), load(y + i)); i += 16 }
        var s = hsum(acc)
        while i < n { s += x[i] * y[i]; i += 1 }
        return s
    }

    /// Σ (x − mean)².
    @inline(__always) public static func centeredSquares(_ x: UnsafePointer<Float>, _ n: Int, _ mean: Float) -> Float {
        var acc = V(repeating: 0), i = 0
        let m = V(repeating: mean)
        while i + 16 <= n { let c = load(x + i) - m; acc = acc.addingProduct(c, c); i += 16 }
        var s = hsum(acc)
        while i < n { let c = x[i] - mean; s += c * c; i += 1 }
        return s
    }

    /// (Σ a·b, Σ a·b·(x − mean)): layer norm's backward row sums.
    @inline(__always) public static func productSums(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                                     _ n: Int, _ mean: Float) -> (Float, Float) {
        var s1 = V(repeating: 0), s2 = V(repeating: 0), i = 0
        let m = V(repeating: mean)
        while i + 16 <= n { let ab = load(a + i) * load(b + i); s1 += ab; s2 = s2.addingProduct(ab, load(x + i) - m); i += 16 }
        var r1 = hsum(s1), r2 = hsum(s2)
        while i < n { let ab = a[i] * b[i]; r1 += ab; r2 += ab * (x[i] - mean); i += 1 }
        return (r1, r2)
    }

    /// y = exp(x − shift), returns Σ y.
    @inline(__always) public static func expShifted(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ shift: Float) -> Float {
        for j in 0..<n { y[j] = FastMath.exp(x[j] - shift) }
        return sum(y, n)
    }
}
