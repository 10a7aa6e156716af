// The GEMM entry point (cblas_sgemm, row-major) and the OpenBLAS core-type check:
// Debian's OpenBLAS 0.3.21 takes AVX-512 CPUs for "Prescott" (~5x slow sgemm).
import Foundation
import CBLAS

public enum BLAS {
    /// OpenBLAS runs single-threaded; the engine splits large products over its own
    /// threads (one pool for BLAS and elementwise work: no spinning BLAS workers
    /// competing with the elementwise kernels on 2 cores).
    static let singleThreaded: Bool = { openblas_set_num_threads(1); return true }()

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
        _ = singleThreaded
        let parts = Engine.threads
        if parts > 1 && m * n * k >= 1 << 21 {
            if m >= n {   // split the rows of C (and of op(A))
                let step = ((m + parts - 1) / parts + 7) / 8 * 8
                let chunks = (m + step - 1) / step
                DispatchQueue.concurrentPerform(iterations: chunks) { p in
                    let m0 = p * step, mm = min(step, m - m0)
                    let ap = transA ? a + m0 : a + m0 * lda
                    call(transA, transB, mm, n, k, alpha, ap, lda, b, ldb, beta, c + m0 * ldc, ldc)
                }
            } else {      // split the columns of C (and of op(B))
                let step = ((n + parts - 1) / parts + 15) / 16 * 16
                let chunks = (n + step - 1) / step
                DispatchQueue.concurrentPerform(iterations: chunks) { p in
                    let n0 = p * step, nn = min(step, n - n0)
                    let bp = transB ? b + n0 * ldb : b + n0
                    call(transA, transB, m, nn, k, alpha, a, lda, bp, ldb, beta, c + n0, ldc)
                }
            }
            return
        }
        call(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    @inline(__always)
    static func call(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                     _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if FLOPCounter.active { FLOPCounter.add(2 * Double(m) * Double(n) * Double(k)) }
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The kernel family OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", ...).
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }
    /// OpenBLAS's own thread count (1: the engine parallelises around it).
    public static var threads: Int { _ = singleThreaded; return Int(openblas_get_num_threads()) }
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


/// Counts the FLOPs of matrix products (2·m·n·k per sgemm) while `measure` runs: the cost of a
/// forward pass of any model (per-task FLOPs of a squad, an extracted model, a baseline) as run.
/// Elementwise work (softmax, GELU, norms) is not counted, as in the paper's FLOP figures.
public enum FLOPCounter {
    nonisolated(unsafe) static var active = false
    nonisolated(unsafe) static var total: Double = 0
    static let lock = NSLock()
    static let owner = NSLock()   // one measurement at a time

    static func add(_ f: Double) { lock.lock(); total += f; lock.unlock() }

    /// `body`'s result and the matrix-product FLOPs it performed.
    public static func measure<T>(_ body: () throws -> T) rethrows -> (result: T, flops: Double) {
        owner.lock(); defer { owner.unlock() }
        lock.lock(); total = 0; active = true; lock.unlock()
        defer { lock.lock(); active = false; lock.unlock() }
        let r = try body()
        lock.lock(); let f = total; lock.unlock()
        return (r, f)
    }
}
