// Seeded random numbers: xoshiro256** seeded through SplitMix64; uniform floats
// from the top 24 bits; normals by Box-Muller (both values used). The same seed
// gives the same numbers on every run and machine (integer math only until the
// final float conversion, and Foundation's log/cos/sin are IEEE on Linux glibc).
import Foundation

public struct RNG: Sendable, Equatable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)
    private var spare: Float? = nil

    public init(seed: UInt64) {
        var z = seed
        func splitmix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// Restores a generator from `stateWords` (for checkpoints): the 4 state words, then
    /// optionally whether a Box–Muller value is cached and its bits. Missing words read as 0.
    public init(stateWords w: [UInt64]) {
        let x = w + [UInt64](repeating: 0, count: max(0, 6 - w.count))
        state = (x[0], x[1], x[2], x[3])
        spare = x[4] != 0 ? Float(bitPattern: UInt32(truncatingIfNeeded: x[5])) : nil
    }
    /// The full state, including a cached normal: restoring it continues the exact sequence.
    public var stateWords: [UInt64] {
        [state.0, state.1, state.2, state.3, spare == nil ? 0 : 1, UInt64(spare?.bitPattern ?? 0)]
    }

    public static func == (a: RNG, b: RNG) -> Bool { a.stateWords == b.stateWords && a.spare == b.spare }

    @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = RNG.rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0; state.3 ^= state.1; state.1 ^= state.2; state.0 ^= state.3
        state.2 ^= t; state.3 = RNG.rotl(state.3, 45)
        return result
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform integer in 0..<n (n > 0), unbiased by rejection.
    public mutating func int(below n: Int) -> Int {
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        while true { let x = next(); if x < limit { return Int(x % bound) } }
    }

    /// Standard normal.
    public mutating func normal() -> Float {
        if let s = spare { spare = nil; return s }
        var u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let r = (-2 * Foundation.log(u1)).squareRoot()
        spare = Float(r * Foundation.sin(2 * Double.pi * u2))
        return Float(r * Foundation.cos(2 * Double.pi * u2))
    }

    /// Fisher-Yates shuffle of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int] {
        var a = Array(0..<n)
        if n < 2 { return a }
        for i in stride(from: n - 1, to: 0, by: -1) { a.swapAt(i, int(below: i + 1)) }
        return a
    }
}
