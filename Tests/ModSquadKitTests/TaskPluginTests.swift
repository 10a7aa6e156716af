// Tests of the built-in task plugins: every loss and metric against hand-computed values, bad targets, pictures, and their fit with the datasets.
import Foundation
import XCTest
import SquadTensor
import ModSquad
import SquadPluginAPI
import SquadData
import BuiltinPlugins

final class TaskPluginTests: XCTestCase {
    func t(_ v: [Float], _ shape: [Int], grad: Bool = false) -> Tensor { try! Tensor(v, shape: shape, requiresGrad: grad) }

    func metric(_ ms: [Metric], _ name: String) -> Double {
        guard let m = ms.first(where: { $0.name == name }) else { XCTFail("no metric \(name) in \(ms)"); return .nan }
        return m.value
    }

    func testSegmentation() throws {
        let task = SegmentationTask(name: "seg", classes: 3)
        // pixels (row-major 2×2): labels 0, 1, 2, ignored; predicted 0, 1, 1, 2
        let logits: [[Float]] = [[5, 0, 0], [0, 5, 0], [0, 5, 0], [0, 0, 5]]
        var v = [Float](repeating: 0, count: 12)
        for p in 0..<4 { for c in 0..<3 { v[c * 4 + p] = logits[p][c] } }
        let ms = try task.metrics(t(v, [1, 3, 2, 2]), .labels([0, 1, 2, -1]))
        XCTAssertEqual(metric(ms, "pixel_acc"), 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(metric(ms, "miou"), (1 + 0.5 + 0) / 3, accuracy: 1e-12)   // IoU: class 0 1/1, class 1 1/2, class 2 0/1
        let zeros = t([Float](repeating: 0, count: 12), [1, 3, 2, 2], grad: true)
        let loss = try task.loss(zeros, .labels([0, 1, 2, -1]))
        XCTAssertEqual(loss.scalar, Foundation.log(3), accuracy: 1e-6)
        try loss.backward()
        XCTAssertEqual(zeros.grad?.shape, [1, 3, 2, 2])
        XCTAssertEqual(zeros.grad!.data[0], (1.0 / 3 - 1) / 3, accuracy: 1e-6, "d/dlogit of the true class, mean over 3 valid pixels")
        XCTAssertEqual(zeros.grad!.data[3], 0, "ignored pixel")
        XCTAssertThrowsError(try task.loss(zeros, .labels([0, 1, 3, 0]))) { XCTAssertTrue("\($0)".contains("task 'seg': label 3 at 2 is outside 0..<3")) }
        XCTAssertThrowsError(try task.loss(zeros, .labels([0]))) { XCTAssertTrue("\($0)".contains("expected 4 labels, found 1")) }
        XCTAssertThrowsError(try task.loss(zeros, .values(zeros))) { XCTAssertTrue("\($0)".contains("expects class labels")) }
    }

    func testDepth() throws {
        let task = DepthTask()
        let p = t([1, 2, 3, 4], [1, 1, 2, 2], grad: true), y = t([2, 2, 2, 0], [1, 1, 2, 2])
        let ms = try task.metrics(p, .values(y))
        XCTAssertEqual(metric(ms, "abs_rel"), (0.5 + 0 + 0.5) / 3, accuracy: 1e-7, "over pixels with depth > 0")
        XCTAssertEqual(metric(ms, "rmse"), (18.0 / 4).squareRoot(), accuracy: 1e-7)
        let loss = try task.loss(p, .values(y))
        XCTAssertEqual(loss.scalar, 1.5, accuracy: 1e-6)
        try loss.backward()
        XCTAssertEqual(p.grad?.array, [-0.25, 0, 0.25, 0.25])
        XCTAssertThrowsError(try task.loss(p, .values(t([1, 2], [1, 1, 1, 2])))) { XCTAssertTrue("\($0)".contains("task 'depth': target [1, 1, 1, 2] does not match prediction [1, 1, 2, 2]")) }
        XCTAssertThrowsError(try task.loss(t([1, 2], [1, 2, 1, 1]), .values(y))) { XCTAssertTrue("\($0)".contains("should be [B, 1, H, W]")) }
        XCTAssertThrowsError(try task.metrics(p, .labels([1]))) { XCTAssertTrue("\($0)".contains("expects a value tensor")) }
    }

    func testNormals() throws {
        let task = NormalsTask()
        let c10 = Float(cos(10 * Double.pi / 180)), s10 = Float(sin(10 * Double.pi / 180))
        // pixels: (1,0,0), (1,1,0), (0,1,0), (cos 10°, sin 10°, 0), each against (1,0,0): 0°, 45°, 90°, 10°
        let p = t([1, 1, 0, c10, 0, 1, 1, s10, 0, 0, 0, 0], [1, 3, 2, 2], grad: true)
        let y = t([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], [1, 3, 2, 2])
        let ms = try task.metrics(p, .values(y))
        XCTAssertEqual(metric(ms, "mean_angle"), (0 + 45 + 90 + 10) / 4, accuracy: 1e-4)
        XCTAssertEqual(metric(ms, "within_11.25"), 0.5, accuracy: 1e-12)
        let loss = try task.loss(p, .values(y))
        XCTAssertEqual(Double(loss.scalar), (0 + (1 - 0.5.squareRoot()) + 1 + (1 - Double(c10))) / 4, accuracy: 1e-6)
        try loss.backward()
        XCTAssertEqual(p.grad?.shape, [1, 3, 2, 2])
        XCTAssertEqual(p.grad!.data[0], 0, accuracy: 1e-6, "aligned pixel: no gradient along itself")
    }

    func testEdgesKeypointsReshading() throws {
        let p = t([0.9, 0.2, 0.6, 0.1], [1, 1, 2, 2]), y = t([1, 1, 0, 0], [1, 1, 2, 2])
        let e = try EdgeTask().metrics(p, .values(y))
        XCTAssertEqual(metric(e, "mae"), 0.4, accuracy: 1e-6)
        XCTAssertEqual(metric(e, "f1"), 0.5, accuracy: 1e-12)   // tp 1, fp 1, fn 1
        XCTAssertEqual(metric(try EdgeTask().metrics(t([0.1, 0, 0, 0], [1, 1, 2, 2]), .values(t([0, 0, 0, 0], [1, 1, 2, 2]))), "f1"), 1, "no edges anywhere")
        XCTAssertEqual(try EdgeTask().loss(p, .values(y)).scalar, 0.4, accuracy: 1e-6)
        XCTAssertEqual(metric(try UnitMapTask.keypoints().metrics(p, .values(y)), "mae"), 0.4, accuracy: 1e-6)
        XCTAssertEqual(try UnitMapTask.keypoints().loss(p, .values(y)).scalar, 0.4, accuracy: 1e-6)
        XCTAssertEqual(metric(try UnitMapTask.reshading().metrics(p, .values(y)), "mae"), 0.4, accuracy: 1e-6)
        XCTAssertEqual(try UnitMapTask.reshading().loss(p, .values(y)).scalar, 0.4, accuracy: 1e-6)
    }

    func testReconstructionAndDenseValues() throws {
        let task = ReconstructionTask(name: "rec", channels: 1)
        let p = t([0.5, 0.5, 0.5, 0.5], [1, 1, 2, 2]), y = t([0.6, 0.4, 0.5, 0.5], [1, 1, 2, 2])
        let ms = try task.metrics(p, .values(y))
        XCTAssertEqual(metric(ms, "mae"), 0.05, accuracy: 1e-7)
        XCTAssertEqual(metric(ms, "psnr"), 10 * Foundation.log10(1 / 0.005), accuracy: 1e-4)   // MSE 0.005 -> 23.01 dB
        XCTAssertEqual(metric(try task.metrics(y, .values(y)), "psnr"), 100, "perfect match capped")
        XCTAssertEqual(try task.loss(p, .values(y)).scalar, 0.05, accuracy: 1e-6)
        let d = try DenseValueTask(name: "h", channels: 1).metrics(t([1, 2, 3, 4], [1, 1, 2, 2]), .values(t([2, 2, 2, 0], [1, 1, 2, 2])))
        XCTAssertEqual(metric(d, "mae"), 1.5, accuracy: 1e-7)
        XCTAssertEqual(metric(d, "rmse"), (4.5).squareRoot(), accuracy: 1e-7)
    }

    func testClassificationAndRegression() throws {
        let task = ClassificationTask(name: "c", classes: 3, classNames: ["cat", "dog", "owl"])
        let p = t([2, 1, 0, 0, 3, 1, 1, 0, 0.5], [3, 3], grad: true)
        XCTAssertEqual(metric(try task.metrics(p, .labels([0, 2, -1])), "top1"), 0.5, "sample 0 right, 1 wrong, 2 ignored")
        let ce0 = Foundation.log(exp(2.0) + exp(1.0) + 1) - 2, ce1 = Foundation.log(1 + exp(3.0) + exp(1.0)) - 1
        let loss = try task.loss(p, .labels([0, 2, -1]))
        XCTAssertEqual(Double(loss.scalar), (ce0 + ce1) / 2, accuracy: 1e-5)
        try loss.backward()
        XCTAssertEqual(p.grad!.data[6], 0, "ignored sample")
        XCTAssertThrowsError(try task.loss(p, .labels([0, 1]))) { XCTAssertTrue("\($0)".contains("expected 3 labels, found 2")) }
        XCTAssertThrowsError(try task.loss(t([1, 2], [1, 2]), .labels([0]))) { XCTAssertTrue("\($0)".contains("should be [B, 3]")) }
        let r = RegressionTask(name: "n")
        let rp = t([1, 3], [2, 1]), ry = t([2, 3], [2, 1])
        let rm = try r.metrics(rp, .values(ry))
        XCTAssertEqual(metric(rm, "mae"), 0.5, accuracy: 1e-7)
        XCTAssertEqual(metric(rm, "rmse"), 0.5.squareRoot(), accuracy: 1e-7)
        XCTAssertEqual(try r.loss(rp, .values(ry)).scalar, 0.5, accuracy: 1e-6)
        // pictures: bars with the class named in the caption
        let pic = try task.picture(prediction: p, target: .labels([0, 2, -1]), index: 1)
        XCTAssertEqual(pic.caption, "c: target owl | predicted dog (84%)")
        XCTAssertEqual(pic.rgb.shape[0], 3)
        XCTAssertEqual(try r.picture(prediction: rp, target: .values(ry), index: 0).caption, "n: target 2 | predicted 1")
    }

    /// Every task declares metrics exactly as it reports them (names and directions).
    func testMetricInfoMatchesMetrics() throws {
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        for task in registry.taskNames.compactMap({ try? registry.task($0) }) {
            let (pred, target) = sample(task, batch: 2, side: 4)
            let ms = try task.metrics(pred, target)
            XCTAssertEqual(ms.map(\.name), task.metricInfo.map(\.name), task.name)
            XCTAssertEqual(ms.map(\.higherIsBetter), task.metricInfo.map(\.higherIsBetter), task.name)
            XCTAssertEqual(try task.loss(pred, target).shape, [1], task.name)
            // a picture of target next to prediction: twice the width plus a gap for dense tasks
            let pic = try task.picture(prediction: pred, target: target, index: 1)
            XCTAssertEqual(pic.rgb.shape[0], 3, task.name)
            if task.kind == .dense { XCTAssertEqual(pic.rgb.shape, [3, 4, 10], task.name) }
            XCTAssertTrue(pic.rgb.array.allSatisfy { $0 >= 0 && $0 <= 1 }, task.name)
            XCTAssertTrue(pic.caption.hasPrefix(task.name + ":"), pic.caption)
            _ = try task.picture(prediction: nil, target: target, index: 1)
            XCTAssertThrowsError(try task.picture(prediction: pred, target: nil, index: 2), task.name)
        }
    }

    /// A deterministic prediction and a valid target for a task.
    func sample(_ task: TaskPlugin, batch b: Int, side s: Int) -> (Tensor, TaskTarget) {
        var rng = RNG(seed: 3)
        let c = task.channels
        if task.kind == .global {
            let p = Tensor.uniform([b, c], rng: &rng)
            if task is RegressionTask { return (p, .values(Tensor.uniform([b, c], rng: &rng))) }
            return (p, .labels((0..<b).map { $0 % c }))
        }
        let p = Tensor.uniform([b, c, s, s], 0.05, 1, rng: &rng)
        if task is SegmentationTask { return (p, .labels((0..<(b * s * s)).map { $0 % c })) }
        return (p, .values(Tensor.uniform([b, c, s, s], 0.1, 1, rng: &rng)))
    }

    func testPicturesDrawTheData() throws {
        // normals: (0, 0, 1) is drawn (0.5, 0.5, 1)
        let n = try NormalsTask().picture(prediction: nil, target: .values(t([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1], [1, 3, 2, 2])), index: 0)
        XCTAssertEqual([n.rgb.data[0], n.rgb.data[4], n.rgb.data[8]], [0.5, 0.5, 1])
        // segmentation: target labels in palette colours, the same colours for the predicted argmax
        let seg = SegmentationTask(name: "s", classes: 2)
        let pred = t([0, 9, 0, 9, 9, 0, 9, 0], [1, 2, 2, 2])   // argmax 1, 0, 1, 0
        let pic = try seg.picture(prediction: pred, target: .labels([1, 0, 1, 0]), index: 0)
        XCTAssertEqual(pic.rgb.shape, [3, 2, 6])
        for ch in 0..<3 { for r in 0..<2 { for c in 0..<2 { XCTAssertEqual(pic.rgb.data[(ch * 2 + r) * 6 + c], pic.rgb.data[(ch * 2 + r) * 6 + 4 + c]) } } }
        XCTAssertNotEqual(pic.rgb.data[0], pic.rgb.data[1], "two classes, two colours")
        // label maps alone: square maps per sample
        XCTAssertEqual(try seg.picture(prediction: nil, target: .labels([1, 0, 1, 0, 0, 0, 0, 0]), index: 1).rgb.shape, [3, 2, 2])
        // depth: target and prediction share the target's range, so equal values get equal colours
        let d = try DepthTask().picture(prediction: t([1, 2, 3, 9], [1, 1, 2, 2]), target: .values(t([1, 2, 3, 4], [1, 1, 2, 2])), index: 0)
        for ch in 0..<3 { for k in 0..<3 { XCTAssertEqual(d.rgb.data[(ch * 2 + k / 2) * 6 + k % 2], d.rgb.data[(ch * 2 + k / 2) * 6 + 4 + k % 2]) } }
        // edges grey
        let e = try EdgeTask().picture(prediction: nil, target: .values(t([0, 1, 0.5, 0], [1, 1, 2, 2])), index: 0)
        XCTAssertEqual(Array(e.rgb.array[0..<4]), [0, 1, 0.5, 0]); XCTAssertEqual(Array(e.rgb.array[4..<8]), [0, 1, 0.5, 0])
    }

    /// The targets of every built-in dataset fit the registered task of the same name.
    func testDatasetsFitTheirTasks() throws {
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        var sets: [MultiTaskDataset] = [try registry.dataset("scenes").make(PluginArguments(owner: "scenes", [
            "size": .number(16), "train": .number(4), "test": .number(2), "cache": .bool(false),
            "tasks": .list(ScenesDataset.allTasks.map { .string($0) })]))]
        if FileManager.default.fileExists(atPath: FashionMNIST.defaultFolder + "/train-images-idx3-ubyte.gz") {
            sets.append(try FashionDataset(train: 4, test: 2, tasks: FashionDataset.allTasks))
            sets.append(try MultiFashionDataset(train: 4, test: 2))
        }
        for ds in sets {
            let (x, targets) = try ds.batch(.train, [0, 1])
            for name in ds.taskNames {
                let task = try registry.task(name)
                let shape = task.kind == .dense ? [2, task.channels, x.shape[2], x.shape[3]] : [2, task.channels]
                let pred = Tensor(zeros: shape)
                XCTAssertNoThrow(try task.loss(pred, targets[name]!), "\(ds.name) \(name)")
                XCTAssertNoThrow(try task.metrics(pred, targets[name]!), "\(ds.name) \(name)")
                XCTAssertNoThrow(try task.picture(prediction: pred, target: targets[name]!, index: 1), "\(ds.name) \(name)")
            }
        }
    }

    func testDatasetPluginArguments() throws {
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        XCTAssertEqual(Set(registry.datasetNames), ["scenes", "fashion", "multifashion", "folder"])
        let scenes = try registry.dataset("scenes")
        func bad(_ args: [String: PluginValue], _ text: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try scenes.make(PluginArguments(owner: "scenes", args)), file: file, line: line) {
                XCTAssertTrue("\($0)".contains(text), "\($0)", file: file, line: line)
            }
        }
        bad(["sise": .number(32)], "scenes: parameter 'sise' unknown parameter")
        bad(["size": .number(8)], "scenes: parameter 'size' must be within 16...256, got 8")
        bad(["size": .string("big")], "parameter 'size' expected an integer")
        bad(["tasks": .list([.string("depht")])], "parameter 'tasks' has unknown task 'depht' (did you mean 'depth'?)")
        bad(["tasks": .list([])], "parameter 'tasks' must name at least one")
        bad(["min_objects": .number(4), "max_objects": .number(2)], "parameter 'max_objects' must be at least min_objects (4), got 2")
        let ds = try scenes.make(PluginArguments(owner: "scenes", ["size": .number(16), "train": .number(3), "test": .number(1), "cache": .bool(false)]))
        XCTAssertEqual(ds.taskNames, ScenesDataset.defaultTasks)
        XCTAssertEqual(ds.count(.train), 3)
        XCTAssertThrowsError(try registry.dataset("fashion").make(PluginArguments(owner: "fashion", ["path": .string("/nonexistent")]))) {
            XCTAssertTrue("\($0)".contains("/nonexistent/train-images-idx3-ubyte.gz: no such file"), "\($0)")
        }
        XCTAssertThrowsError(try registry.dataset("folder").make(PluginArguments(owner: "folder", [:]))) {
            XCTAssertEqual("\($0)", "folder: parameter 'path' is required")
        }
    }

    /// A folder's columns use the registered task of their name when it fits, and get new tasks otherwise.
    func testFolderColumnsBecomeTasks() throws {
        let dir = temporaryDirectory("msq-folder-tasks")
        defer { try? FileManager.default.removeItem(at: dir) }
        try PNG.write(Tensor(repeating: 0.5, shape: [3, 2, 2]), to: dir.appendingPathComponent("a.png"))
        try "image,depth:dense,label:class,score:value\na.png,a.png,4,0.5\na.png,a.png,1,2\n"
            .write(to: dir.appendingPathComponent("manifest.csv"), atomically: true, encoding: .utf8)
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        let plugin = FolderPlugin(registry: registry)
        let ds = try plugin.make(PluginArguments(owner: "folder", ["path": .string(dir.path), "test": .number(0)]))
        XCTAssertEqual(ds.taskNames, ["depth", "label", "score"])
        XCTAssertTrue(try registry.task("depth") is DepthTask, "the built-in depth task fits a 1-channel dense column")
        XCTAssertEqual(try registry.task("label").channels, 5)
        XCTAssertEqual(try registry.task("score").kind, .global)
        XCTAssertTrue(registry.listing().contains { $0.name == "label" && $0.source == "folder \(dir.path)" })
        // loading again reuses them; a column that does not fit a registered task is an error naming the manifest
        _ = try plugin.make(PluginArguments(owner: "folder", ["path": .string(dir.path)]))
        try "image,label:value\na.png,1\n".write(to: dir.appendingPathComponent("manifest.csv"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try plugin.make(PluginArguments(owner: "folder", ["path": .string(dir.path)]))) {
            XCTAssertTrue("\($0)".contains("manifest.csv, row 1: column 'label:value' needs a global task with 1 channels, but the registered task 'label' is global with 5"), "\($0)")
        }
    }
}
