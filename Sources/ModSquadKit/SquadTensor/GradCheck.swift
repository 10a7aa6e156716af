// Finite-difference gradient checking: compares backward() against central
// differences of L = Σ out ⊙ w (w fixed random, L accumulated in Float64).
import Foundation

public struct GradCheckReport: CustomStringConvertible {
    public var worst: Float = 0          // largest |analytic − numeric| / (atol + rtol·scale)
    public var where_: String = ""
    public var checked = 0
    public var passed: Bool { worst <= 1 }
    public var description: String { "gradcheck: \(checked) entries, worst ratio \(worst) at \(where_) (≤ 1 passes)" }
}

public enum GradCheck {
    /// Checks d(Σ f()⊙w)/d(input) for every entry of every input (at most `maxEntries` each, spread evenly).
    public static func check(_ inputs: [Tensor], eps: Float = 1e-2, atol: Float = 1e-3, rtol: Float = 1e-2,
                             maxEntries: Int = 64, seed: UInt64 = 7, _ f: () throws -> Tensor) throws -> GradCheckReport {
        for t in inputs { t.requiresGrad = true; t.grad = nil }
        Autograd.reset()
        let out = try f()
        var rng = RNG(seed: seed)
        let w = Tensor.uniform(out.shape, -1, 1, rng: &rng)
        func loss(_ o: Tensor) -> Double {
            var s = 0.0
            for i in 0..<o.count { s += Double(o.data[i]) * Double(w.data[i]) }
            return s
        }
        try out.backward(seed: w)
        let analytic = inputs.map { $0.grad?.copy() ?? Tensor(zeros: $0.shape) }
        var report = GradCheckReport()
        try Autograd.noGrad {
            for (ti, t) in inputs.enumerated() {
                let stride = max(1, t.count / maxEntries)
                for i in Swift.stride(from: 0, to: t.count, by: stride) {
                    let orig = t.data[i]
                    t.data[i] = orig + eps; let lp = loss(try f())
                    t.data[i] = orig - eps; let lm = loss(try f())
                    t.data[i] = orig
                    let numeric = Float((lp - lm) / (2 * Double(eps)))
                    let a = analytic[ti].data[i]
                    let ratio = Swift.abs(a - numeric) / (atol + rtol * Swift.max(Swift.abs(a), Swift.abs(numeric)))
                    report.checked += 1
                    if ratio > report.worst { report.worst = ratio; report.where_ = "input \(ti) entry \(i): analytic \(a), numeric \(numeric)" }
                }
            }
        }
        for t in inputs { t.grad = nil }
        return report
    }
}
