// msq bench: engine benchmarks (gemm GFLOP/s, elementwise kernels ns/element).
import Foundation
import SquadTensor

enum Bench {
    static func run(_ args: [String]) throws -> Int32 {
        print("bench: not yet")
        return 1
    }
}
