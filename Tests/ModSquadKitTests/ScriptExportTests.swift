// save_batches (the exact batches train() draws, for another framework), trivial (constant-prediction
// baselines) and groups (task groups from shared experts).
import Foundation
import XCTest
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI
import SquadData
import SquadPlot
import SquadScript
import BuiltinPlugins

final class ScriptExportTests: XCTestCase {
    let small = "dim: 16, depth: 2, patch: 4, experts: 4, top_k: 2, head_dim: 8, expert_hidden: 16"

    func testSaveBatchesWritesWhatTrainDraws() throws {
        let (i, out) = makeSession()
        exec(i, "data = toy(train: 20, test: 6)\nm = squad(tasks: data, \(small), seed: 4)\nsave_batches(m, data, \"b\", steps: 7, batch: 8, test: true)")
        XCTAssertTrue(out.text.contains("saved 7 batches of 8 (20 train samples, 3 tasks)"), out.text)
        let dir = i.directory.appendingPathComponent("b")
        let order = try NPY.read(dir.appendingPathComponent("order.npy"))
        XCTAssertEqual(order.shape, [7, 8])
        // the same loader train() makes: the model's seed, shuffled, last partial batch dropped (2 per epoch)
        let loader = DataLoader(ToyDataset(size: 8, train: 20, test: 6, tasks: ["tseg", "tmap", "tcls"]), split: .train, batchSize: 8,
                                shuffle: true, seed: 4, augment: false, dropLast: true)
        for s in 0..<7 { XCTAssertEqual(order.array[(s * 8)..<(s * 8 + 8)].map { Int($0) }, loader.indices(epoch: s / 2, position: s % 2), "step \(s)") }
        let images = try NPY.read(dir.appendingPathComponent("train_images.npy"))
        XCTAssertEqual(images.shape, [20, 3, 8, 8])
        let mean = images.array.reduce(0, +) / Float(images.count)
        XCTAssertEqual(mean, 0, accuracy: 0.1, "images are normalised as training sees them")
        XCTAssertEqual(try NPY.read(dir.appendingPathComponent("train_tseg.npy")).shape, [20 * 64], "per-pixel labels")
        XCTAssertEqual(try NPY.read(dir.appendingPathComponent("test_tmap.npy")).shape, [6, 1, 8, 8])
        let meta = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("meta.json"))) as? [String: Any])
        let tasks = try XCTUnwrap(meta["tasks"] as? [[String: Any]])
        XCTAssertEqual(tasks.map { $0["name"] as? String }, ["tseg", "tmap", "tcls"])
        XCTAssertEqual(tasks.map { $0["loss"] as? String }, ["plugin:tseg", "plugin:tmap", "plugin:tcls"], "a plugin's own loss is named as such")
        // and train() then draws exactly these samples: its first batch equals the recorded first batch
        let first = Array(order.array[0..<8]).map { Int($0) }
        let (x, _) = try ToyDataset(size: 8, train: 20, test: 6, tasks: ["tseg"]).batch(.train, first)
        let stats = try DataLoader.statistics(ToyDataset(size: 8, train: 20, test: 6, tasks: ["tseg"]))
        let xn = try DataLoader.normalized(x, stats)
        assertClose(xn, try images.reshaped([20, 192]).gatherRows(first).reshaped([8, 3, 8, 8]), atol: 1e-6, rtol: 0)
    }

    func testSaveBatchesNamesBuiltinLosses() throws {
        let (i, _) = try makeBuiltinSession("msq-export")
        try i.run("data = scenes(size: 16, train: 8, test: 2, tasks: [\"segment\", \"depth\", \"normal\", \"count\", \"shape\"])\nm = vit(tasks: data, dim: 16, depth: 1, head_dim: 8)\nsave_batches(m, data, \"b\", steps: 2, batch: 4)", name: "t.msq")
        let meta = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: i.directory.appendingPathComponent("b/meta.json"))) as? [String: Any])
        let losses = (meta["tasks"] as? [[String: Any]] ?? []).map { $0["loss"] as? String ?? "?" }
        XCTAssertEqual(losses, ["ce", "l1", "cosine", "mse", "ce"])
    }

    func testTrivialScoresTheBestConstant() throws {
        let (i, out) = makeSession()
        exec(i, "data = toy(train: 64, test: 32)\nm = squad(tasks: data, \(small))\nt = trivial(m, data)\nt")
        XCTAssertTrue(out.text.contains("trivial test (32 images, constant predictions)"), out.text)
        // tcls: the test share of the training majority class; computed directly from the data
        let ds = ToyDataset(size: 8, train: 64, test: 32, tasks: ["tcls"])
        guard case .labels(let train)? = try ds.batch(.train, Array(0..<64)).targets["tcls"],
              case .labels(let test)? = try ds.batch(.test, Array(0..<32)).targets["tcls"] else { return XCTFail("toy labels") }
        let majority = train.filter { $0 == 1 }.count * 2 > train.count ? 1 : 0
        let expected = Double(test.filter { $0 == majority }.count) / Double(test.count)
        guard case .object(let r as Record)? = i.variables["t"], case .object(let row as Record)? = r.fields.first(where: { $0.0 == "tcls" })?.1,
              case .number(let top1)? = row.fields.first(where: { $0.0 == "top1" })?.1 else { return XCTFail("no tcls top1 in \(out.text)") }
        XCTAssertEqual(top1, expected, accuracy: 1e-9)
        // a trained model is scored on the same footing: eval and trivial name the same metrics
        XCTAssertEqual(Set(row.fields.map(\.0)), ["top1"])
    }

    func testGroupsFollowSharedExperts() throws {
        // a and b use the same experts, c others: [a, b] and [c]; n: 1 joins all; a high threshold keeps all apart
        let r = TaskRelations(tasks: ["a", "b", "c"], matrix: [[0.5, 0.45, 0.02], [0.45, 0.5, 0.03], [0.02, 0.03, 0.6]], order: [0, 1, 2])
        XCTAssertEqual(taskGroups(r).map(\.tasks), [["a", "b"], ["c"]])
        XCTAssertEqual(taskGroups(r, count: 1).map(\.tasks), [["a", "b", "c"]])
        XCTAssertEqual(taskGroups(r, threshold: 0.99).map(\.tasks), [["a"], ["b"], ["c"]])
        XCTAssertEqual(taskGroups(r)[0].similarity, 0.9, accuracy: 1e-9)
        let (i, out) = makeSession()
        exec(i, "data = toy()\nm = squad(tasks: data, \(small))\ntrain(m, data, steps: 3, batch: 8)\ng = groups(m, n: 2)")
        guard case .list(let gs)? = i.variables["g"] else { return XCTFail("groups returned no list: \(out.text)") }
        XCTAssertEqual(gs.count, 2)
        assertError(execError(i, "groups(m, n: 4)"), .argument, line: 1, column: 11, "within 1...3")
    }
}
