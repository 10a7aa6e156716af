// An op-level profiler (MSQ_PROFILE=1 or Profiler.enabled): forward time is the time
// since the previous recorded op, backward time is each op's backward closure.
// Only ops that record (training mode) are seen; `msq bench --profile` prints the table.
import Foundation

public final class Profiler: @unchecked Sendable {
    public static let shared = Profiler()
    public var enabled = ProcessInfo.processInfo.environment["MSQ_PROFILE"] != nil
    public struct Row { public var calls = 0; public var forward = 0.0; public var backward = 0.0 }
    public private(set) var rows: [String: Row] = [:]
    var last = 0.0

    @inline(__always) static func clock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Marks the start of a forward pass (time before it is not charged to an op).
    public func mark() { last = Profiler.clock() }

    func forward(_ op: String) {
        let t = Profiler.clock()
        if last > 0 { rows[op, default: Row()].forward += t - last }
        rows[op, default: Row()].calls += 1
        last = t
    }

    func backward(_ op: String, _ seconds: Double) { rows[op, default: Row()].backward += seconds }

    public func reset() { rows = [:]; last = 0 }

    /// The table, most expensive first: op, calls, forward s, backward s, share of the total.
    public func table(steps: Int = 1) -> String {
        let total = rows.values.reduce(0) { $0 + $1.forward + $1.backward }
        var out = "| op | calls/step | forward ms/step | backward ms/step | share |\n|---|---|---|---|---|\n"
        for (op, r) in rows.sorted(by: { $0.value.forward + $0.value.backward > $1.value.forward + $1.value.backward }) {
            let name = op.components(separatedBy: "(").first ?? op
            out += String(format: "| %@ | %d | %.1f | %.1f | %.1f%% |\n", name, r.calls / max(steps, 1),
                          1e3 * r.forward / Double(max(steps, 1)), 1e3 * r.backward / Double(max(steps, 1)),
                          100 * (r.forward + r.backward) / max(total, 1e-12))
        }
        return out
    }
}
