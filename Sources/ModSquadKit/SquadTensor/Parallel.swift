// Row-block parallelism over DispatchQueue.concurrentPerform, and the engine's
// thread count (shared with OpenBLAS).
import Foundation
import CBLAS

public enum Engine {
    /// MSQ_THREADS, else the number of cores.
    nonisolated(unsafe) static var _threads: Int = {
        if let v = ProcessInfo.processInfo.environment["MSQ_THREADS"], let n = Int(v), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Threads used by the kernels, including the row blocks of large GEMMs.
    public static var threads: Int {
        get { _threads }
        set { _threads = max(1, newValue) }
    }

    /// Splits 0..<n into at most `threads` blocks of at least `grain` items and runs them in parallel.
    @inline(__always)
    public static func parallelFor(_ n: Int, grain: Int = 32_768, _ body: (Range<Int>) -> Void) {
        let blocks = min(_threads, max(1, n / max(grain, 1)))
        if blocks <= 1 { body(0..<n); return }
        let per = (n + blocks - 1) / blocks
        DispatchQueue.concurrentPerform(iterations: blocks) { b in
            let lo = b * per, hi = min(n, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `n` independent items in parallel (attention heads, experts).
    @inline(__always)
    public static func parallelItems(_ n: Int, _ body: (Int) -> Void) {
        if _threads <= 1 || n <= 1 { for i in 0..<n { body(i) }; return }
        DispatchQueue.concurrentPerform(iterations: n, execute: body)
    }
}
