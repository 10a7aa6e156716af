// A register-tiled GEMM for the small products inside attention (64-1,000 rows,
// K = head dim or tokens): no packing and no call overhead, any strides for A, so
// transposed operands and heads inside wider rows are read where they lie.
// Explicit addingProduct: Swift does not contract a*b+c into an FMA by itself.
import Foundation

public enum MicroGEMM {
    /// C[m,n] = alpha·A·B (+ C when accumulate), A(i,p) = a[i·ars + p·acs], B row-major (ldb), C row-major (ldc).
    public static func gemm(m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, ars: Int, acs: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        if m == 0 || n == 0 { return }
        if FLOPCounter.active { FLOPCounter.add(2 * Double(m) * Double(n) * Double(k)) }
        var j = 0
        while j + 16 <= n {
            columns(SIMD16<Float>.self, j, m, k, alpha, a, ars, acs, b, ldb, c, ldc, accumulate); j += 16
        }
        if j + 8 <= n { columns(SIMD8<Float>.self, j, m, k, alpha, a, ars, acs, b, ldb, c, ldc, accumulate); j += 8 }
        while j < n {   // a last column or few, one at a time
            for i in 0..<m {
                var s: Float = 0
                for p in 0..<k { s += a[i * ars + p * acs] * b[p * ldb + j] }
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + alpha * s : alpha * s
            }
            j += 1
        }
    }

    /// One strip of V.scalarCount columns starting at j0, in tiles of 6 rows, then of 3.
    @inline(__always)
    static func columns<V: SIMD>(_: V.Type, _ j0: Int, _ m: Int, _ k: Int, _ alpha: Float,
                                 _ a: UnsafePointer<Float>, _ ars: Int, _ acs: Int,
                                 _ b: UnsafePointer<Float>, _ ldb: Int,
                                 _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) where V.Scalar == Float {
        let bj = UnsafeRawPointer(b + j0)
        let stride = ldb * MemoryLayout<Float>.stride
        var i = 0
        while i + 6 <= m {
            var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
            var ap = a + i * ars, bp = bj
            for _ in 0..<k {
                let bv = bp.loadUnaligned(as: V.self)
                c0 = c0.addingProduct(bv, V(repeating: ap[0])); c1 = c1.addingProduct(bv, V(repeating: ap[ars]))
                c2 = c2.addingProduct(bv, V(repeating: ap[2 * ars])); c3 = c3.addingProduct(bv, V(repeating: ap[3 * ars]))
                c4 = c4.addingProduct(bv, V(repeating: ap[4 * ars])); c5 = c5.addingProduct(bv, V(repeating: ap[5 * ars]))
                ap += acs; bp += stride
            }
            let cp = c + i * ldc + j0
            store(c0, cp, alpha, accumulate); store(c1, cp + ldc, alpha, accumulate)
            store(c2, cp + 2 * ldc, alpha, accumulate); store(c3, cp + 3 * ldc, alpha, accumulate)
            store(c4, cp + 4 * ldc, alpha, accumulate); store(c5, cp + 5 * ldc, alpha, accumulate)
            i += 6
        }
        while i < m {   // 1-5 rows left: a 3-row tile, rows past the end repeat the last row and are not stored
            let r1 = min(i + 1, m - 1) - i, r2 = min(i + 2, m - 1) - i
            var c0 = V(), c1 = V(), c2 = V()
            var ap = a + i * ars, bp = bj
            for _ in 0..<k {
                let bv = bp.loadUnaligned(as: V.self)
                c0 = c0.addingProduct(bv, V(repeating: ap[0])); c1 = c1.addingProduct(bv, V(repeating: ap[r1 * ars]))
                c2 = c2.addingProduct(bv, V(repeating: ap[r2 * ars]))
                ap += acs; bp += stride
            }
            let cp = c + i * ldc + j0
            store(c0, cp, alpha, accumulate)
            if i + 1 < m { store(c1, cp + ldc, alpha, accumulate) }
            if i + 2 < m { store(c2, cp + 2 * ldc, alpha, accumulate) }
            i += 3
        }
    }

    @inline(__always)
    static func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>, _ alpha: Float, _ accumulate: Bool) where V.Scalar == Float {
        let raw = UnsafeMutableRawPointer(p)
        let out = accumulate ? raw.loadUnaligned(as: V.self) + v * alpha : v * alpha
        raw.storeBytes(of: out, as: V.self)
    }
}
