// Tensor storage and the buffer pool: 64-byte aligned Float buffers recycled by
// size class, so that a training step after the first allocates no new memory.
import Foundation

/// Counters of the pool, for tests and `msq bench` (fresh = a real malloc).
public struct PoolStats: Sendable, Equatable {
    public var freshAllocations = 0
    public var reused = 0
    public var bytesHeld = 0        // bytes owned by the pool (live + idle)
}

/// A size-classed free list of aligned buffers. Thread safe; one per process.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private let lock = NSLock()
    private var stats = PoolStats()
    /// When false, buffers are freed instead of pooled (for memory-tight runs).
    public var enabled = true

    /// Size classes: 4 per power of two above 64 floats, so waste stays under 25%.
    @inline(__always) static func sizeClass(_ n: Int) -> Int {
        if n <= 64 { return 64 }
        let p = Int.bitWidth - (n - 1).leadingZeroBitCount  // 2^p >= n
        let step = 1 << (p - 3)
        return (n + step - 1) / step * step
    }

    func take(_ n: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let c = BufferPool.sizeClass(n)
        lock.lock()
        if var list = free[c], let p = list.popLast() {
            free[c] = list
            stats.reused += 1
            lock.unlock()
            return (p, c)
        }
        stats.freshAllocations += 1
        stats.bytesHeld += c * 4
        lock.unlock()
        var raw: UnsafeMutableRawPointer?
        // Buffers of 2 MiB and more sit on 2 MiB boundaries and ask for transparent huge
        // pages: 512x fewer page faults on first touch and fewer TLB misses in GEMMs.
        let huge = c * 4 >= 2 << 20
        if posix_memalign(&raw, huge ? 2 << 20 : 64, c * 4) != 0 || raw == nil {
            // Out of memory is not recoverable by a caller; report it plainly.
            fatalError("ModSquad: out of memory allocating \(c * 4) bytes")
        }
        if huge { _ = madvise(raw, c * 4, 14) }   // MADV_HUGEPAGE (a hint; ignored where unsupported)
        return (raw!.bindMemory(to: Float.self, capacity: c), c)
    }

    func give(_ p: UnsafeMutablePointer<Float>, _ c: Int) {
        lock.lock()
        if enabled {
            free[c, default: []].append(p)
            lock.unlock()
        } else {
            stats.bytesHeld -= c * 4
            lock.unlock()
            Foundation.free(p)
        }
    }

    public var statistics: PoolStats { lock.lock(); defer { lock.unlock() }; return stats }

    /// Frees every idle buffer (memory held by live tensors stays).
    public func trim() {
        lock.lock()
        for (c, list) in free { for p in list { Foundation.free(p); stats.bytesHeld -= c * 4 } }
        free.removeAll()
        lock.unlock()
    }
}

/// Owns one pooled buffer; returns it to the pool when the last tensor using it goes.
public final class Storage {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    let capacity: Int

    public init(count: Int) {
        (pointer, capacity) = BufferPool.shared.take(Swift.max(count, 1))
        self.count = count
    }
    deinit { BufferPool.shared.give(pointer, capacity) }
}
