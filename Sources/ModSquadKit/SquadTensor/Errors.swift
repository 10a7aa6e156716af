// Errors of the tensor engine: each names the op and what it expected and found.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// An op got shapes it cannot combine: op name, then the shapes it saw.
    case shapeMismatch(op: String, shapes: [[Int]], expected: String)
    case invalidArgument(op: String, message: String)
    case noGradient(String)
    case io(path: String, message: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, shapes, expected):
            let s = shapes.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" }.joined(separator: " and ")
            return "\(op): shape mismatch: got \(s); expected \(expected)"
        case let .invalidArgument(op, message): return "\(op): \(message)"
        case let .noGradient(m): return "backward: \(m)"
        case let .io(path, message): return "\(path): \(message)"
        }
    }
}

@inline(__always) func shapeString(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
