// The documented range of every numeric builtin parameter: checked when a call binds its arguments (before the
// builtin builds anything) and shown by help(); most come from the parameter's name, a few from its spec.

/// A closed or half-open interval of finite numbers, printed as in maths: [1, 4096], (0, 10].
public struct ValueRange: CustomStringConvertible, Sendable {
    public let lower: Double, upper: Double
    public let lowerOpen: Bool
    public init(_ lower: Double, _ upper: Double, lowerOpen: Bool = false) {
        self.lower = lower; self.upper = upper; self.lowerOpen = lowerOpen
    }
    /// Strictly above `lower`, at most `upper`.
    public static func above(_ lower: Double, _ upper: Double) -> ValueRange { ValueRange(lower, upper, lowerOpen: true) }
    public func contains(_ v: Double) -> Bool { v.isFinite && (lowerOpen ? v > lower : v >= lower) && v <= upper }
    public var description: String {
        "\(lowerOpen ? "(" : "[")\(formatNumber(lower)), \(formatNumber(upper))]"
    }
}

public enum ParamRanges {
    static let big = 1e9
    /// By parameter name, for every builtin that does not give its own.
    public static let byName: [String: ValueRange] = [
        // model shape (as SquadConfig.ranges)
        "dim": ValueRange(1, 16384), "depth": ValueRange(1, 512), "patch": ValueRange(1, 4096), "image": ValueRange(1, 4096),
        "channels": ValueRange(1, 100_000), "head_dim": ValueRange(1, 4096), "heads": ValueRange(1, 1024),
        "mlp_ratio": ValueRange(1, 64), "experts": ValueRange(1, 1024), "attn_experts": ValueRange(1, 1024),
        "mlp_experts": ValueRange(1, 1024), "top_k": ValueRange(1, 1024), "attn_top_k": ValueRange(1, 1024),
        "mlp_top_k": ValueRange(1, 1024), "expert_hidden": ValueRange(1, 262_144), "width": ValueRange(1, 262_144),
        "decoder": ValueRange(1, 4096), "decoder_width": ValueRange(1, 4096),
        "noise": ValueRange(0, 100), "capacity": ValueRange(0, 1024), "seed": ValueRange(0, 9_007_199_254_740_992),
        // training
        "epochs": .above(0, 1e6), "steps": ValueRange(1, big), "batch": ValueRange(1, 65536), "lr": .above(0, 10),
        "min_lr": ValueRange(0, 10), "warmup": ValueRange(0, big), "weight_decay": ValueRange(0, 10),
        "mi": ValueRange(0, 1000), "switch": ValueRange(0, 1000), "z": ValueRange(0, 1000), "clip": ValueRange(0, 1e6),
        "save_every": ValueRange(1, big), "n": ValueRange(1, big), "limit": ValueRange(1, big),
        "weight": ValueRange(0, 1e6), "smoothing": ValueRange(0, 1), "threshold": ValueRange(0, 100),
        // data, plots, benchmarks
        "samples": ValueRange(1, 4096), "reps": ValueRange(1, 10_000), "fit": ValueRange(1, 10_000_000),
        "size": ValueRange(1, 4096),
    ]
}

extension ParamSpec {
    /// The range a number given for this parameter must lie in (nil for non-numeric parameters).
    public var effectiveRange: ValueRange? {
        guard type.isNumeric else { return nil }
        return range ?? ParamRanges.byName[name]
    }
}

extension ParamType {
    /// Whether the parameter takes a number (alone or among other kinds).
    public var isNumeric: Bool {
        switch self {
        case .number, .int: return true
        case .oneOf(let ts): return ts.contains { $0.isNumeric }
        default: return false
        }
    }
}
