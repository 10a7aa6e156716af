// Plugins: the registry's errors, the built-in gatings and aux losses (gradients and
// short training runs), the .so loader's error cases, and the outside example plugin
// built as its own package, loaded, trained and cast across the boundary.
import XCTest
import Foundation
import SquadTensor
import SquadNN
@testable import ModSquad
@testable import SquadPluginAPI
import BuiltinPlugins

/// A task plugin whose loss throws: a bad plugin must not end the session or touch weights.
final class ThrowingTask: TaskPlugin {
    let name = "bright", summary = "throws", kind = TaskKind.global, channels = 1
    let metricInfo: [MetricInfo] = []
    struct Boom: Error {}
    func loss(_ p: Tensor, _ t: TaskTarget) throws -> Tensor { throw Boom() }
    func metrics(_ p: Tensor, _ t: TaskTarget) throws -> [Metric] { [] }
    func picture(prediction: Tensor?, target: TaskTarget?, index: Int) throws -> Picture { Picture(rgb: Tensor(zeros: [3, 1, 1])) }
}

final class PluginTests: XCTestCase {
    func testRegistryErrorsNameSourcesAndKnownNames() throws {
        let r = PluginRegistry()
        try r.register(gating: TopKGatingProbe())
        r.currentSource = "libOther.so"
        XCTAssertThrowsError(try r.register(gating: TopKGatingProbe())) {
            XCTAssertEqual("\($0)", "gating 'probe' is registered twice: by built-in and by libOther.so")
        }
        XCTAssertThrowsError(try r.gating("prbe")) {
            XCTAssertEqual("\($0)", "unknown gating 'prbe' (did you mean 'probe'?); known: probe")
        }
        let full = PluginRegistry()
        try BuiltinPlugins.register(into: full)
        XCTAssertEqual(full.gatingNames, ["dense", "expert_choice", "noisy_topk", "shared", "topk"])
        XCTAssertEqual(full.auxLossNames, ["cv", "mi", "switch", "z"])
        XCTAssertThrowsError(try BuiltinPlugins.register(into: full), "registering twice clashes")
    }

    /// Every gating: gates are differentiable w.r.t. the router, and a short run lowers the loss.
    func testEveryGatingHasGradientsAndTrains() throws {
        let reg = PluginRegistry()
        try BuiltinPlugins.register(into: reg)
        for name in reg.gatingNames {
            var cfg = try Toy.config(experts: 4, topK: 2, seed: 21)
            try reg.configure(&cfg, gating: name)
            let m = try SquadModel(cfg)
            var opts = TrainOptions(); opts.lr = 5e-3
            let tr = Trainer(m, options: opts)
            try reg.bind(m, trainer: tr)
            var rng = RNG(seed: 22)
            let (x, y) = Toy.batch(8, rng: &rng)
            // gradient of the gated layer output w.r.t. one router (selection held fixed by small eps)
            let router = m.routers[0], w = router.weights[router.tasks[0]]!
            // router weights of their own (std 0.5), so the top-k margins are far wider than eps and the
            // check does not depend on what the model's initialisation happened to draw
            var wr = RNG(seed: 23)
            try w.assign(Tensor.normal(w.shape, std: 0.5, rng: &wr))
            let xs = Tensor.normal([6, 16], rng: &rng)
            let segs = [TaskSegment(task: router.tasks[0], start: 0, count: 6)]
            let report = try GradCheck.check([w], eps: 1e-3, atol: 2e-3, rtol: 3e-2) {
                var r2 = RNG(seed: 5)
                return try router.route(xs, segments: segs, layer: "l", rng: &r2).1
            }
            XCTAssertTrue(report.passed, "\(name): \(report)")
            m.train()
            let first = try tr.trainStep(x, y).total
            var last = first
            for _ in 0..<25 { last = try tr.trainStep(x, y).total }
            XCTAssertLessThan(last, first, "\(name): loss \(first) → \(last)")
        }
    }

    func testEveryAuxLossHasGradientsAndTrainingLowersIt() throws {
        let reg = PluginRegistry()
        try BuiltinPlugins.register(into: reg)
        for name in reg.auxLossNames {
            let p = try reg.auxLoss(name)
            var rng = RNG(seed: 31)
            let router = Router(dim: 8, experts: 4, tasks: ["a", "b"], options: GateOptions(topK: 2), rng: &rng)
            for t in router.tasks { try router.weights[t]!.assign(Tensor.normal([8, 4], std: 0.8, rng: &rng)) }
            let x = Tensor.normal([16, 8], rng: &rng)
            let segs = [TaskSegment(task: "a", start: 0, count: 8), TaskSegment(task: "b", start: 8, count: 8)]
            let ws = router.tasks.map { router.weights[$0]! }
            // switch depends on discrete counts: a small step keeps them fixed; the others are smooth
            let eps: Float = name == "switch" ? 1e-3 : 1e-2
            let report = try GradCheck.check(ws, eps: eps, atol: name == "switch" ? 3e-4 : 1e-4, rtol: 3e-2) {
                try p.loss(router.route(x, segments: segs, layer: "l", rng: &rng).0)
            }
            XCTAssertTrue(report.passed, "\(name): \(report)")
            let opt = AdamW(router.parameters(), lr: 1e-2, weightDecay: 0)
            let start = try Autograd.noGrad { try p.loss(router.route(x, segments: segs, layer: "l", rng: &rng).0).scalar }
            for _ in 0..<30 {
                let l = try p.loss(router.route(x, segments: segs, layer: "l", rng: &rng).0)
                try l.backward(); opt.step(); router.zeroGrad()
            }
            let end = try Autograd.noGrad { try p.loss(router.route(x, segments: segs, layer: "l", rng: &rng).0).scalar }
            XCTAssertLessThan(end, start, "\(name): \(start) → \(end)")
        }
    }

    /// A training step fails with an error starting `prefix`, leaving weights, tape and step count as they were.
    func assertStepFailsContained(_ m: SquadModel, _ tr: Trainer, seed: UInt64, prefix: String,
                                  file: StaticString = #filePath, line: UInt = #line) {
        var rng = RNG(seed: seed)
        let (x, y) = Toy.batch(2, rng: &rng)
        let before = m.stateDict().mapValues { $0.array }
        XCTAssertThrowsError(try tr.trainStep(x, y), file: file, line: line) {
            XCTAssertTrue("\($0)".hasPrefix(prefix), "\($0)", file: file, line: line)
        }
        for (k, v) in before { XCTAssertEqual(m.parameter(k)!.array, v, k, file: file, line: line) }
        XCTAssertEqual(Autograd.recordedOps, 0, "the failed step left nothing on the tape", file: file, line: line)
        XCTAssertEqual(tr.step, 0, file: file, line: line)
    }

    func testAPluginThatThrowsInItsLossLeavesTheModelIntact() throws {
        let reg = PluginRegistry()
        try reg.register(task: ThrowingTask())
        var cfg = try Toy.config()
        cfg.tasks[0].plugin = "bright"
        let m = try SquadModel(cfg)
        let tr = Trainer(m)
        try reg.bind(m, trainer: tr)
        assertStepFailsContained(m, tr, seed: 1, prefix: "plugin bright: loss failed")
    }

    func testAGatingThatThrowsIsContained() throws {
        let reg = PluginRegistry()
        try reg.register(gating: ThrowingGating())
        var cfg = try Toy.config()
        try reg.configure(&cfg, gating: "boom")
        let m = try SquadModel(cfg)
        let tr = Trainer(m)
        try reg.bind(m, trainer: tr)
        assertStepFailsContained(m, tr, seed: 2, prefix: "plugin boom: gating failed")
    }

    // MARK: the .so loader

    func testLoaderErrorCases() throws {
        let reg = PluginRegistry()
        XCTAssertThrowsError(try PluginLoader.load("/nonexistent/libX.so", into: reg)) { XCTAssertEqual("\($0)", "/nonexistent/libX.so: no such file") }
        let junk = temporaryDirectory().appendingPathComponent("libjunk.so")
        try Data("not an ELF file".utf8).write(to: junk)
        XCTAssertThrowsError(try PluginLoader.load(junk.path, into: reg)) { XCTAssertTrue("\($0)".contains("cannot load"), "\($0)") }
        let plain = try cLibrary("plain", "int plain(void) { return 1; }\n")
        XCTAssertThrowsError(try PluginLoader.load(plain, into: reg)) { XCTAssertTrue("\($0)".contains("not a ModSquad plugin"), "\($0)") }
        let old = try cLibrary("oldabi", "int modsquad_plugin_abi(void) { return 999; }\nchar *modsquad_plugin_register(void *r, int a) { return 0; }\n")
        XCTAssertThrowsError(try PluginLoader.load(old, into: reg)) { XCTAssertTrue("\($0)".contains("plugin ABI version 0, layout 3e7, this msq has \(describeABIIdentity(pluginABIIdentity))"), "\($0)") }
        let throwing = try cLibrary("throwing", """
            #include <string.h>
            int modsquad_plugin_abi(void) { return \(pluginABIIdentity); }
            char *modsquad_plugin_register(void *r, int a) { return strdup("boom: no GPU here"); }
            """)
        XCTAssertThrowsError(try PluginLoader.load(throwing, into: reg)) { XCTAssertTrue("\($0)".hasSuffix("registration failed: boom: no GPU here"), "\($0)") }
        XCTAssertTrue(reg.listing().isEmpty, "failed loads register nothing")
    }

    /// `swift build` (debug) of a plugin package; the build must succeed.
    func swiftBuild(_ package: URL, scratch: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = ["swift", "build", "--package-path", package.path, "--scratch-path", scratch.path]
        let pipe = Pipe(); build.standardOutput = pipe; build.standardError = pipe
        try build.run()
        let log = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        build.waitUntilExit()
        XCTAssertEqual(build.terminationStatus, 0, log, file: file, line: line)
    }

    /// A plugin built against a core whose public layouts differ (one more field in TaskSpec, the version not
    /// bumped) reports another ABI identity and is refused with both named.
    func testAPluginBuiltAgainstAnotherCoreLayoutIsRefused() throws {
        let fm = FileManager.default
        let tmp = temporaryDirectory("msq-oldcore")
        defer { try? fm.removeItem(at: tmp) }
        let core = tmp.appendingPathComponent("ModSquadKit"), plugin = tmp.appendingPathComponent("plugin")   // the folder names the package
        try fm.copyItem(at: Fixtures.repoRoot.appendingPathComponent("Sources/ModSquadKit"), to: core)
        let tasks = core.appendingPathComponent("ModSquad/Tasks.swift")
        var src = try String(contentsOf: tasks, encoding: .utf8)
        XCTAssertTrue(src.contains("    public var decoder: Int? = nil\n"))
        src = src.replacingOccurrences(of: "    public var decoder: Int? = nil\n", with: "    public var decoder: Int? = nil\n    public var addedLater: Int = 0\n")
        try src.write(to: tasks, atomically: true, encoding: .utf8)
        try fm.createDirectory(at: plugin, withIntermediateDirectories: true)
        try fm.copyItem(at: Fixtures.repoRoot.appendingPathComponent("Plugins/Examples/Colorization/Sources"), to: plugin.appendingPathComponent("Sources"))
        let manifest = try String(contentsOf: Fixtures.repoRoot.appendingPathComponent("Plugins/Examples/Colorization/Package.swift"), encoding: .utf8)
            .replacingOccurrences(of: "../../../Sources/ModSquadKit", with: "../ModSquadKit")
        try manifest.write(to: plugin.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try swiftBuild(plugin, scratch: tmp.appendingPathComponent("build"))
        let lib = tmp.appendingPathComponent("build/debug/libColorization.so").path
        XCTAssertThrowsError(try PluginLoader.load(lib, into: PluginRegistry())) { e in
            let d = "\(e)"
            XCTAssertTrue(d.contains("built against another ModSquadKit") && d.contains("this msq has \(describeABIIdentity(pluginABIIdentity))"), d)
            XCTAssertTrue(d.contains("plugin ABI version \(pluginABIVersion), layout "), "the same version, another layout: \(d)")
        }
    }

    /// The example outside plugin: its own package, built with swift build, loaded, trained, cast.
    func testExampleOutsidePluginBuildsLoadsAndTrains() throws {
        let pkg = Fixtures.repoRoot.appendingPathComponent("Plugins/Examples/Colorization")
        // the scratch folder load_plugin uses in fast mode (notebooks/plugin.msq under NotebookTests shares the build)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("msq-plugin-Colorization-debug")
        try swiftBuild(pkg, scratch: scratch)
        let lib = scratch.appendingPathComponent("debug/libColorization.so").path

        let reg = PluginRegistry.shared
        let names = try PluginLoader.load(lib, into: reg)
        XCTAssertEqual(Set(names), ["task colorize", "aux loss colorfulness", "gating sample_topk"], "the aux loss went through PluginRegistry.shared: one singleton")
        // the example gating: k distinct experts per row, gates in the graph (the routers learn through them)
        let gating = try reg.gating("sample_topk")
        var grng = RNG(seed: 5)
        let logits = Tensor.normal([6, 4], std: 1, rng: &grng, requiresGrad: true)
        let probs = try logits.softmax()
        let d = try gating.gate(GateInput(logits: logits, probs: probs, topK: 2, training: true, segments: [TaskSegment(task: "t", start: 0, count: 6)]), rng: &grng)
        for row in 0..<6 {
            let c = Array(d.choices[(row * 2)..<(row * 2 + 2)])
            XCTAssertEqual(Set(c).count, 2); XCTAssertTrue(c.allSatisfy { (0..<4).contains($0) })
            for j in 0..<2 { XCTAssertEqual(d.gates.data[row * 2 + j], probs.data[row * 4 + c[j]]) }
        }
        try d.gates.sum().backward()
        XCTAssertNotNil(logits.grad, "gradients reach the router logits")
        Autograd.reset()
        let task = try reg.task("colorize")
        let any: Any = task
        XCTAssertNotNil(any as? TaskPlugin, "a cast across the boundary")
        XCTAssertEqual(reg.listing().first { $0.name == "colorize" }?.source, "libColorization.so")
        // loading it again says where it was loaded from and changes nothing
        XCTAssertThrowsError(try PluginLoader.load(lib, into: reg)) {
            XCTAssertTrue("\($0)".hasSuffix("libColorization.so: already loaded from \(lib)"), "\($0)")
        }
        XCTAssertNoThrow(try reg.task("colorize"))
        // train it: its target is derived from the images
        var cfg = try Toy.config(tasks: [Toy.tasks[0]])
        cfg.tasks.append(task.spec())
        let m = try SquadModel(cfg)
        let tr = Trainer(m, options: { var o = TrainOptions(); o.lr = 5e-3; return o }())
        try reg.bind(m, trainer: tr, auxWeights: ["colorfulness": 0.001])
        var rng = RNG(seed: 41)
        let (x, y) = Toy.batch(8, rng: &rng)
        let first = try tr.trainStep(x, ["bright": y["bright"]!])
        XCTAssertEqual(first.aux.map(\.0), ["mi", "colorfulness"])
        var last = first
        for _ in 0..<20 { last = try tr.trainStep(x, ["bright": y["bright"]!]) }
        let colorize = { (l: StepLog) in l.taskLosses.first { $0.0 == "colorize" }!.1 }
        XCTAssertLessThan(colorize(last), colorize(first))
        let pred = try Autograd.noGrad { try m(x).predictions["colorize"]! }
        let pic = try task.picture(prediction: pred, target: nil, index: 0)
        XCTAssertEqual(pic.rgb.shape, [3, 8, 8])

        // and through the language, in a fresh msq process: load, build a squad with it, train, plot
        let dir = temporaryDirectory("msq-plugin-nb")
        let nb = dir.appendingPathComponent("colorize.msq")
        try """
        load_plugin("\(pkg.path)", configuration: "debug", scratch: "\(scratch.path)")
        data = scenes(size: 16, train: 64, test: 16, tasks: ["depth"])
        m = squad(tasks: ["depth", "colorize"], image: 16, dim: 32, depth: 2, experts: 4, top_k: 2)
        step(m, data, n: 3, batch: 8)
        eval(m, data)
        plot_predictions(m, data, "colorize", "colorize.png", samples: 2)
        sampled = squad(tasks: ["depth"], image: 16, dim: 32, depth: 2, experts: 4, top_k: 2, gate: "sample_topk")
        step(sampled, data, n: 2, batch: 8)
        """.write(to: nb, atomically: true, encoding: .utf8)
        let r = try MSQBinary.run(["run", nb.path], cwd: dir, env: ["MSQ_CACHE": dir.appendingPathComponent("cache").path])
        XCTAssertEqual(r.status, 0, r.out + r.err)
        XCTAssertTrue(r.out.contains("colorize"), r.out)
        XCTAssertTrue(r.out.contains("load_plugin: building Colorization") && r.out.contains("loaded "), "load_plugin of the package folder builds, then loads: " + r.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("colorize.png").path), r.out + r.err)
    }
}

final class ThrowingGating: GatingPlugin {
    let name = "boom", summary = "throws"
    struct Boom: Error {}
    func gate(_ input: GateInput, rng: inout RNG) throws -> GateDecision { throw Boom() }
}

final class TopKGatingProbe: GatingPlugin {
    let name = "probe", summary = "test"
    func gate(_ input: GateInput, rng: inout RNG) throws -> GateDecision {
        let (v, i) = try input.probs.topk(input.topK)
        return GateDecision(choices: i, gates: try v.reshaped([v.count]))
    }
}
