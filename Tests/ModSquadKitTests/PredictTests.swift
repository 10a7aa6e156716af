// Data out and pictures in: predict and route as tensors, image/images with the training normalisation kept in
// the checkpoint, save_npy / save_npz read back by numpy, format at full precision.
import XCTest
import Foundation
import SquadTensor
import SquadNN
import ModSquad
import SquadData
import SquadScript

final class PredictTests: XCTestCase {
    func tensor(_ s: Interpreter, _ name: String) -> Tensor? {
        if case .object(let t as TensorValue)? = s.variables[name] { return t.tensor }
        return nil
    }

    func testPredictGivesEachTasksOutputsAsATensor() throws {
        let (s, _) = makeSession()
        exec(s, "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, top_k: 2, head_dim: 8)\ntrain(m, data, steps: 2, batch: 4)")
        exec(s, "seg = predict(m, data, task: \"tseg\", n: 5, batch: 2)\ncls = predict(m, data, task: \"tcls\")")
        XCTAssertEqual(tensor(s, "seg")?.shape, [5, 2, 8, 8])
        XCTAssertEqual(tensor(s, "cls")?.shape, [16, 2], "all 16 test samples by default")
        // the same numbers as one forward of the same normalised batch
        let m = try XCTUnwrap(modelVariable(s)).model
        guard case .object(let d as DatasetValue)? = s.variables["data"] else { return XCTFail("no dataset") }
        let loader = DataLoader(d.dataset, split: .test, batchSize: 5, shuffle: false, dropLast: false)
        loader.normalization = try DataLoader.statistics(d.dataset)
        m.eval()
        let want = try Autograd.noGrad { try m(loader.next().images, tasks: ["tseg"]) }.predictions["tseg"]!
        m.train()
        for (x, y) in zip(try XCTUnwrap(tensor(s, "seg")).array, want.array) { XCTAssertEqual(x, y, accuracy: 1e-5) }   // GEMM rounding differs by batch size
        let e = execError(s, "predict(m, data)")
        XCTAssertTrue(e?.message.contains("'task' is needed") ?? false, e?.rendered ?? "")
    }

    /// A trained model's checkpoint keeps the input normalisation, so predict on the user's own PNGs (image/images)
    /// in a new session gives exactly what it gives on the same images through the dataset.
    func testOwnImagesArePredictedWithTheTrainingNormalisation() throws {
        let dir = temporaryDirectory("msq-predict")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("img"), withIntermediateDirectories: true)
        var rows = ["image,split,class:class"], rng = RNG(seed: 9)
        for i in 0..<8 {
            let t = Tensor(uninitialized: [3, 8, 8])
            for k in 0..<t.count { t.data[k] = Float(Int(rng.uniform() * 255)) / 255 }
            try PNG.write(t, to: dir.appendingPathComponent("img/\(i).png"))
            rows.append("img/\(i).png,train,\(i % 3)")
        }
        try rows.joined(separator: "\n").write(to: dir.appendingPathComponent("manifest.csv"), atomically: true, encoding: .utf8)
        let (a, _) = try makeBuiltinSession()
        exec(a, "data = folder(\"\(dir.path)\")\nm = vit(tasks: data, dim: 8, depth: 1, head_dim: 8)")
        let untrained = execError(a, "predict(m, images(\"\(dir.path)/img\"))")
        XCTAssertTrue(untrained?.message.contains("no stored input statistics") ?? false, untrained?.rendered ?? "")
        exec(a, "train(m, data, steps: 3, batch: 4)\nsave(m, \"m.safetensors\")\nviaData = predict(m, data, split: \"train\")")
        let (b, _) = try makeBuiltinSession()
        exec(b, "m = load(\"\(a.resolve("m.safetensors").path)\")\nown = predict(m, images(\"\(dir.path)/img\"))\none = predict(m, image(\"\(dir.path)/img/3.png\"))")
        let want = try XCTUnwrap(tensor(a, "viaData")), got = try XCTUnwrap(tensor(b, "own"))
        XCTAssertEqual(got.shape, [8, 10], "the built-in 10-class task named by the column")
        for (x, y) in zip(got.array, want.array) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        for (x, y) in zip(try XCTUnwrap(tensor(b, "one")).array, got.array[30..<40]) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        // normalize: false feeds the images as they are (different numbers)
        exec(b, "raw = predict(m, images(\"\(dir.path)/img\"), normalize: false)")
        XCTAssertNotEqual(try XCTUnwrap(tensor(b, "raw")).array, got.array)
        let wrong = execError(b, "predict(m, image(\"\(dir.path)/img/3.png\"), task: \"nope\")")
        XCTAssertTrue(wrong?.message.contains("names no task") ?? false)
    }

    func testRouteGivesProbabilitiesChosenExpertsAndGates() throws {
        let (s, _) = makeSession()
        exec(s, "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, top_k: 2, head_dim: 8)\nr = route(m, data, task: \"tcls\", n: 3)")
        guard case .object(let r as Record)? = s.variables["r"] else { return XCTFail("route gave no record") }
        XCTAssertEqual(r.memberNames, ["blocks.0.attn", "blocks.1.mlp"])
        for layer in r.memberNames {
            guard case .object(let l as Record)? = r[layer], case .object(let p as TensorValue)? = l["probs"],
                  case .object(let e as TensorValue)? = l["experts"], case .object(let g as TensorValue)? = l["gates"] else { return XCTFail(layer) }
            XCTAssertEqual(p.tensor.shape, [3, 4, 4]); XCTAssertEqual(e.tensor.shape, [3, 4, 2]); XCTAssertEqual(g.tensor.shape, [3, 4, 2])
            for row in 0..<12 {
                let probs = (0..<4).map { p.tensor.data[row * 4 + $0] }
                XCTAssertEqual(probs.reduce(0, +), 1, accuracy: 1e-3)
                let chosen = (0..<2).map { Int(e.tensor.data[row * 2 + $0]) }
                XCTAssertEqual(Set(chosen), Set(probs.indices.sorted { probs[$0] > probs[$1] }.prefix(2)), "top-2 of the probabilities")
                for j in 0..<2 { XCTAssertEqual(g.tensor.data[row * 2 + j], probs[chosen[j]]) }
            }
        }
        exec(s, "save_npz(r, \"route.npz\")\nsave_npy(predict(m, data, task: \"tmap\", n: 2), \"map.npy\")")
        XCTAssertEqual(try NPY.read(s.resolve("map.npy")).shape, [2, 1, 8, 8])
        let py = Process()
        py.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        py.arguments = ["python3", "-c", "import numpy, sys; z = numpy.load(sys.argv[1]); print(sorted(z.files)); print(z['blocks.1.mlp/probs'].shape, z['blocks.0.attn/experts'].dtype)", s.resolve("route.npz").path]
        let pipe = Pipe(); py.standardOutput = pipe; py.standardError = pipe
        try py.run(); py.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(py.terminationStatus, 0, "numpy could not read the npz (pip install numpy): \(out)")
        XCTAssertTrue(out.contains("'blocks.0.attn/experts', 'blocks.0.attn/gates', 'blocks.0.attn/probs'") && out.contains("(3, 4, 4) float32"), out)
    }

    func testFormatShowsFullPrecision() {
        let (s, _) = makeSession()
        XCTAssertEqual(exec(s, "format(1 / 3, digits: 9)"), "0.333333333\n")
        XCTAssertEqual(exec(s, "format([0.1, 2], digits: 3)"), "[0.1, 2]\n")
        XCTAssertNotNil(execError(s, "format(1, digits: 40)"))
    }
}
