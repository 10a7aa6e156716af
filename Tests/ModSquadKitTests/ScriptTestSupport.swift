// Test helpers for the language: toy task and dataset plugins in a private registry, a capturing output, run/expect-error helpers, the msq binary.
import Foundation
import XCTest
import SquadTensor
import ModSquad
import SquadPluginAPI
import SquadScript
import BuiltinPlugins

/// A task plugin over the model's built-in losses and metrics.
final class ToyTask: TaskPlugin {
    let name: String, summary: String, kind: TaskKind, channels: Int
    let lossKind: TaskLoss
    init(_ name: String, _ kind: TaskKind, _ channels: Int, _ loss: TaskLoss) {
        self.name = name; summary = "toy \(kind.rawValue) task"; self.kind = kind; self.channels = channels; lossKind = loss
    }
    var spec: TaskSpec { TaskSpec(name, kind: kind, channels: channels, loss: lossKind) }
    var metricInfo: [MetricInfo] {
        switch (lossKind, kind) {
        case (.crossEntropy, .dense): return [MetricInfo("miou", higherIsBetter: true), MetricInfo("pixel_acc", higherIsBetter: true)]
        case (.crossEntropy, .global): return [MetricInfo("top1", higherIsBetter: true)]
        default: return [MetricInfo("mae", higherIsBetter: false), MetricInfo("rmse", higherIsBetter: false)]
        }
    }
    func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor { try TaskHead.loss(spec, prediction, target) }
    func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] { try Metrics.compute(spec, prediction, target) }
    func picture(prediction: Tensor?, target: TaskTarget?, index: Int) throws -> Picture {
        let s = prediction?.shape.last ?? 8
        return Picture(rgb: Tensor(repeating: 0.5, shape: [3, s, s]), caption: name)
    }
}

/// Images of noise; tseg = pixels brighter than 0.5 in channel 0, tmap = the channel mean, tcls = whether the image is bright.
final class ToyDataset: MultiTaskDataset {
    let name = "toy", summary = "toy multi-task images"
    let imageSize: Int, channels = 3
    let taskNames: [String]
    let counts: [DataSplit: Int]
    init(size: Int, train: Int, test: Int, tasks: [String]) {
        imageSize = size; taskNames = tasks; counts = [.train: train, .test: test]
    }
    func count(_ split: DataSplit) -> Int { counts[split] ?? 0 }
    func batch(_ split: DataSplit, _ indices: [Int]) throws -> (images: Tensor, targets: [String: TaskTarget]) {
        let b = indices.count, s = imageSize, hw = s * s
        let x = Tensor(uninitialized: [b, 3, s, s])
        for (i, idx) in indices.enumerated() {
            var rng = RNG(seed: UInt64(idx) &+ (split == .test ? 1_000_000 : 0))
            let bias = rng.uniform() - 0.5
            for k in 0..<(3 * hw) { x.data[i * 3 * hw + k] = min(1, max(0, rng.uniform() + bias * 0.6)) }
        }
        var targets: [String: TaskTarget] = [:]
        for t in taskNames {
            switch t {
            case "tseg": targets[t] = .labels((0..<b).flatMap { i in (0..<hw).map { x.data[i * 3 * hw + $0] > 0.5 ? 1 : 0 } })
            case "tmap":
                let m = Tensor(uninitialized: [b, 1, s, s])
                for i in 0..<b { for p in 0..<hw { m.data[i * hw + p] = (0..<3).reduce(0) { $0 + x.data[i * 3 * hw + $1 * hw + p] } / 3 } }
                targets[t] = .values(m)
            case "tcls": targets[t] = .labels((0..<b).map { i in (0..<(3 * hw)).reduce(Float(0)) { $0 + x.data[i * 3 * hw + $1] } / Float(3 * hw) > 0.5 ? 1 : 0 })
            default: throw TaskError.badTarget(task: t, message: "the toy dataset has no such task")
            }
        }
        return (x, targets)
    }
}

final class ToyDatasetPlugin: DatasetPlugin {
    let name = "toy", summary = "toy images with tseg, tmap and tcls"
    let parameters = [
        ParameterInfo("size", "int", default: "8", "image size"),
        ParameterInfo("train", "int", default: "64", "training samples"),
        ParameterInfo("test", "int", default: "16", "test samples"),
        ParameterInfo("tasks", "[string]", default: "[\"tseg\", \"tmap\", \"tcls\"]", "tasks"),
    ]
    func make(_ args: PluginArguments) throws -> MultiTaskDataset {
        try args.checkKnown(parameters.map(\.name))
        let tasks = try args.strings("tasks", default: ["tseg", "tmap", "tcls"])
        for t in tasks where !["tseg", "tmap", "tcls"].contains(t) {
            throw PluginError.badArgument(owner: name, parameter: "tasks", message: "has unknown task '\(t)'")
        }
        return ToyDataset(size: try args.int("size", default: 8), train: try args.int("train", default: 64),
                          test: try args.int("test", default: 16), tasks: tasks)
    }
}

final class TestOutput: ScriptOutput {
    var text = ""
    var images: [ImageValue] = []
    /// As a terminal: progress lines are redrawn (kept here after "\r").
    var terminal = false
    var isTerminal: Bool { terminal }
    func write(_ t: String) { text += t }
    func display(_ image: ImageValue) { images.append(image); text += "[image] \(image.path)\n" }
    var tables: [TableValue] = []
    func display(table: TableValue) { tables.append(table); text += table.plain + "\n" }
    func progress(_ line: String) { text += "\r" + line }
    func endProgress() { if terminal { text += "\n" } }
}

/// A registry with the toy plugins and an interpreter over it, writing into a fresh folder.
func makeSession(file: StaticString = #filePath, line: UInt = #line) -> (Interpreter, TestOutput) {
    let reg = PluginRegistry()
    do {
        try reg.register(task: ToyTask("tseg", .dense, 2, .crossEntropy))
        try reg.register(task: ToyTask("tmap", .dense, 1, .l1))
        try reg.register(task: ToyTask("tcls", .global, 2, .crossEntropy))
        try reg.register(task: ToyTask("tnew", .dense, 1, .l1))
        try reg.register(dataset: ToyDatasetPlugin())
    } catch { XCTFail("registering toy plugins: \(error)", file: file, line: line) }
    let out = TestOutput()
    let interp = Interpreter(output: out, table: BuiltinTable(core: true, registry: reg), directory: temporaryDirectory("msq-script"))
    return (interp, out)
}

/// A session over the built-in plugins (real datasets and tasks), in a fresh temporary folder.
func makeBuiltinSession(_ tag: String = "msq-builtin") throws -> (Interpreter, TestOutput) {
    let reg = PluginRegistry()
    try BuiltinPlugins.register(into: reg)
    let out = TestOutput()
    return (Interpreter(output: out, table: BuiltinTable(core: true, registry: reg), directory: temporaryDirectory(tag)), out)
}

/// Runs source text; fails the test on an error. Returns what it printed.
@discardableResult
func exec(_ interp: Interpreter, _ src: String, file: StaticString = #filePath, line: UInt = #line) -> String {
    let out = interp.output as! TestOutput
    let before = out.text.count
    do { try interp.run(src, name: "test.msq") }
    catch let e as ScriptError { XCTFail("unexpected error:\n\(e.rendered)", file: file, line: line) }
    catch { XCTFail("unexpected error: \(error)", file: file, line: line) }
    return String(out.text.dropFirst(before))
}

/// Runs source text that must fail; returns the error.
func execError(_ interp: Interpreter, _ src: String, file: StaticString = #filePath, line: UInt = #line) -> ScriptError? {
    do { try interp.run(src, name: "test.msq") }
    catch let e as ScriptError { return e }
    catch { XCTFail("not a ScriptError: \(error)", file: file, line: line); return nil }
    XCTFail("expected an error from: \(src)", file: file, line: line)
    return nil
}

/// Asserts an error's kind, line and column, and that its message contains each fragment.
func assertError(_ e: ScriptError?, _ kind: ScriptErrorKind, line l: Int, column c: Int, _ fragments: String...,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard let e = e else { XCTFail("no error", file: file, line: line); return }
    XCTAssertEqual(e.kind, kind, "kind of: \(e.rendered)", file: file, line: line)
    XCTAssertEqual(e.location?.line, l, "line of: \(e.rendered)", file: file, line: line)
    XCTAssertEqual(e.location?.column, c, "column of: \(e.rendered)", file: file, line: line)
    for f in fragments { XCTAssertTrue((e.message + " " + (e.hint ?? "")).contains(f), "'\(f)' not in: \(e.rendered)", file: file, line: line) }
}

enum MSQBinary {
    /// The msq executable built next to the test bundle (works with any --scratch-path), else .build/debug/msq.
    static var url: URL? {
        var dirs: [URL] = []
        if let p = Bundle.main.executableURL { dirs.append(p.deletingLastPathComponent()) }
        dirs.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") { dirs.append(b.bundleURL.deletingLastPathComponent()) }
        dirs.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        dirs.append(Fixtures.repoRoot.appendingPathComponent(".build/debug"))
        for d in dirs {
            var dir = d
            for _ in 0..<3 {
                let c = dir.appendingPathComponent("msq")
                if FileManager.default.isExecutableFile(atPath: c.path) { return c }
                dir = dir.deletingLastPathComponent()
            }
        }
        return nil
    }

    /// Runs msq with arguments in `cwd`; returns status, stdout and stderr.
    @discardableResult
    static func run(_ args: [String], cwd: URL, env: [String: String] = [:], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
        guard let exe = url else { throw XCTSkip("the msq binary is not built next to the tests") }
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        p.currentDirectoryURL = cwd
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        let tmp = temporaryDirectory("msq-run-io")
        let outURL = tmp.appendingPathComponent("out"), errURL = tmp.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let o = try FileHandle(forWritingTo: outURL), r = try FileHandle(forWritingTo: errURL)
        let i = Pipe()
        p.standardOutput = o; p.standardError = r; p.standardInput = i
        try p.run()
        if let s = stdin { i.fileHandleForWriting.write(Data(s.utf8)) }
        try? i.fileHandleForWriting.close()
        p.waitUntilExit()
        try? o.close(); try? r.close()
        let outData = (try? Data(contentsOf: outURL)) ?? Data(), errData = (try? Data(contentsOf: errURL)) ?? Data()
        try? FileManager.default.removeItem(at: tmp)
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}

/// Runs `python3 SCRIPT msq NAME` (a scenario file under Tests/) with its output in `dir`/log; the scenario
/// must exit 0 and print "ok NAME". `env` is added to the test's environment, `unset` removed from it.
func runPythonScenario(_ script: String, msq: URL, name: String, in dir: URL, env extra: [String: String], unset: [String] = [],
                       file: StaticString = #filePath, line: UInt = #line) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", Fixtures.repoRoot.appendingPathComponent(script).path, msq.path, name]
    var env = ProcessInfo.processInfo.environment
    for (k, v) in extra { env[k] = v }
    for k in unset { env.removeValue(forKey: k) }
    p.environment = env
    let out = dir.appendingPathComponent("scenario.log")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    let h = try FileHandle(forWritingTo: out)
    p.standardOutput = h; p.standardError = h
    try p.run()
    p.waitUntilExit()
    try? h.close()
    let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
    XCTAssertEqual(p.terminationStatus, 0, text, file: file, line: line)
    XCTAssertTrue(text.contains("ok \(name)"), text, file: file, line: line)
}
