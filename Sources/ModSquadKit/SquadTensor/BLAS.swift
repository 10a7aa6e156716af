// The GEMM entry point (cblas_sgemm, row-major) and the OpenBLAS core-type check:
// Debian's OpenBLAS 0.3.21 takes AVX-512 CPUs for "Prescott" (~5x slow sgemm).
import Foundation
import CBLAS

public enum BLAS {
    /// C[M,N] = alpha·op(A)·op(B) + beta·C, row-major, with leading dimensions.
    @inline(__always)
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            else if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The kernel family OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", ...).
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }
    public static var threads: Int { Int(openblas_get_num_threads()) }
    public static var config: String {
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p).trimmingCharacters(in: .whitespaces)
    }

    /// The core type this CPU should use when OpenBLAS guessed Prescott, or nil.
    public static func betterCoreType(currentCore: String = coreName) -> String? {
        guard currentCore.lowercased() == "prescott" else { return nil }
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        if flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl") { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// Call first in `main`: when OPENBLAS_CORETYPE is unset and OpenBLAS guessed a
    /// slow core, set the right one and re-exec this process once (the library
    /// reads the variable before main). A variable already set is respected.
    public static func ensureFastCore() {
        let env = ProcessInfo.processInfo.environment
        if env["OPENBLAS_CORETYPE"] != nil || env["MSQ_CORETYPE_REEXEC"] != nil { return }
        guard let better = betterCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", better, 1)
        setenv("MSQ_CORETYPE_REEXEC", "1", 1)
        let args = CommandLine.arguments
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        execv("/proc/self/exe", &cargs)
        // execv returned: carry on with the slow core rather than fail.
    }
}
