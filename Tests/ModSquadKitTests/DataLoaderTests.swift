// Tests of DataLoader: seeded shuffling, epochs and exact resume, normalisation, and flips that mirror labels correctly.
import Foundation
import XCTest
import SquadTensor
import ModSquad
import SquadPluginAPI
import SquadData

/// A tiny dataset whose sample i has image values encoding (i, channel, row, col), and targets of every kind.
final class CodedDataset: MultiTaskDataset, FlipDescribing {
    let name = "coded", summary = "coded test data", imageSize = 4, channels = 2
    let taskNames = ["normal", "depth", "seg", "left", "right", "count"]
    let n: Int
    var describesFlips = true
    init(_ n: Int) { self.n = n }
    func count(_ split: DataSplit) -> Int { split == .train ? n : n / 2 }
    func flipRule(for task: String) -> FlipRule {
        guard describesFlips else { return task == "left" || task == "right" || task == "count" ? .keep : .mirror }
        switch task {
        case "normal": return .mirrorNegating(channels: [0])
        case "seg": return .mirrorRelabeling([1: 2, 2: 1])
        case "left": return .swap(with: "right")
        case "right": return .swap(with: "left")
        case "count": return .keep
        default: return .mirror
        }
    }
    func batch(_ split: DataSplit, _ idx: [Int]) throws -> (images: Tensor, targets: [String: TaskTarget]) {
        let B = idx.count, S = 4
        let im = Tensor(uninitialized: [B, 2, S, S]), nm = Tensor(uninitialized: [B, 3, S, S]), dp = Tensor(uninitialized: [B, 1, S, S])
        for (b, i) in idx.enumerated() {
            for c in 0..<2 { for r in 0..<S { for x in 0..<S { im.data[((b * 2 + c) * S + r) * S + x] = Float(i * 1000 + c * 100 + r * 10 + x) } } }
            for c in 0..<3 { for k in 0..<(S * S) { nm.data[(b * 3 + c) * S * S + k] = Float(c + 1) * Float(k % S + 1) } }
            for k in 0..<(S * S) { dp.data[b * S * S + k] = Float(i) + Float(k % S) / 10 }
        }
        // seg: column 0 is class 1 (left), column 3 is class 2 (right), others 0
        let seg = (0..<(B * S * S)).map { k in k % S == 0 ? 1 : (k % S == 3 ? 2 : 0) }
        let count = Tensor(uninitialized: [B, 1])
        for b in 0..<B { count.data[b] = Float(idx[b]) }
        return (im, ["normal": .values(nm), "depth": .values(dp), "seg": .labels(seg),
                     "left": .labels(idx.map { $0 % 10 }), "right": .labels(idx.map { 9 - $0 % 10 }), "count": .values(count)])
    }
}

final class DataLoaderTests: XCTestCase {
    /// The sample index of each image in a coded batch.
    func ids(_ images: Tensor) -> [Int] {
        let per = images.count / images.shape[0]
        return (0..<images.shape[0]).map { Int(images.data[$0 * per] / 1000) }
    }

    func testShufflingEpochsAndDropLast() throws {
        let ds = CodedDataset(10)
        let a = DataLoader(ds, split: .train, batchSize: 3, seed: 5)
        a.normalize = false
        XCTAssertEqual(a.batchesPerEpoch, 3)
        XCTAssertEqual(DataLoader(ds, split: .train, batchSize: 3, dropLast: false).batchesPerEpoch, 4)
        var epoch0: [Int] = []
        for _ in 0..<3 { epoch0 += ids(try a.next().images) }
        XCTAssertEqual(a.epoch, 0); XCTAssertEqual(a.position, 3)
        XCTAssertEqual(Set(epoch0).count, 9, "no sample twice in an epoch")
        XCTAssertNotEqual(epoch0, Array(0..<9), "shuffled")
        var epoch1: [Int] = []
        for _ in 0..<3 { epoch1 += ids(try a.next().images) }
        XCTAssertEqual(a.epoch, 1, "rolled over to the next epoch")
        XCTAssertNotEqual(epoch0, epoch1, "reshuffled with seed + epoch")
        // the same seed gives the same order; epoch e uses RNG(seed + e)
        var rng = RNG(seed: 5 + 1)
        XCTAssertEqual(epoch1, Array(rng.permutation(10).prefix(9)))
        let b = DataLoader(ds, split: .train, batchSize: 3, seed: 5)
        b.normalize = false
        XCTAssertEqual(ids(try b.next().images), Array(epoch0.prefix(3)))
        // without shuffling and without dropping, every sample once in order, the last batch short
        let c = DataLoader(ds, split: .test, batchSize: 2, shuffle: false, dropLast: false)
        c.normalize = false
        var seen: [Int] = []
        for _ in 0..<c.batchesPerEpoch { seen += ids(try c.next().images) }
        XCTAssertEqual(seen, [0, 1, 2, 3, 4])
        // fewer samples than a batch
        let d = DataLoader(ds, split: .test, batchSize: 8)
        XCTAssertThrowsError(try d.next()) { XCTAssertTrue("\($0)".contains("fewer than one batch of 8"), "\($0)") }
    }

    func testSeekResumesExactly() throws {
        let ds = CodedDataset(20)
        let a = DataLoader(ds, split: .train, batchSize: 4, seed: 9, augment: true)
        for _ in 0..<7 { _ = try a.next() }
        let (e, p) = (a.epoch, a.position)
        XCTAssertEqual(e, 1); XCTAssertEqual(p, 2)
        let expected = try (0..<6).map { _ in try a.next() }
        let b = DataLoader(ds, split: .train, batchSize: 4, seed: 9, augment: true)
        b.seek(epoch: e, position: p)
        for want in expected {
            let got = try b.next()
            XCTAssertEqual(got.images.array, want.images.array, "same samples, same flips, same normalisation")
            guard case .labels(let l1)? = got.targets["left"], case .labels(let l2)? = want.targets["left"] else { return XCTFail() }
            XCTAssertEqual(l1, l2)
        }
        XCTAssertEqual(b.epoch, a.epoch); XCTAssertEqual(b.position, a.position)
        // a position past the end of an epoch rolls over
        let c = DataLoader(ds, split: .train, batchSize: 4, seed: 9)
        c.seek(epoch: 0, position: 5)
        _ = try c.next()
        XCTAssertEqual(c.epoch, 1); XCTAssertEqual(c.position, 1)
    }

    func testNormalisation() throws {
        let ds = try ScenesDataset(size: 16, train: 64, test: 8, tasks: ["depth"], seed: 1, cache: false)
        let l = DataLoader(ds, split: .train, batchSize: 64, shuffle: false)
        let x = try l.next().images
        let (mean, std) = try XCTUnwrap(l.normalization)
        XCTAssertEqual(mean.count, 3)
        let n = 16 * 16
        for c in 0..<3 {
            var s = 0.0, s2 = 0.0
            for b in 0..<64 { for k in 0..<n { let v = Double(x.data[(b * 3 + c) * n + k]); s += v; s2 += v * v } }
            let m = s / Double(64 * n)
            XCTAssertEqual(m, 0, accuracy: 1e-4)
            XCTAssertEqual((s2 / Double(64 * n) - m * m).squareRoot(), 1, accuracy: 1e-3)
            XCTAssertGreaterThan(std[c], 0.05)
        }
        let raw = try ds.batch(.train, Array(0..<64)).images
        assertClose(try l.denormalize(x), raw, atol: 1e-5)
        // the test loader uses the same (train) statistics
        let t = DataLoader(ds, split: .test, batchSize: 8, shuffle: false)
        _ = try t.next()
        XCTAssertEqual(t.normalization?.mean, mean)
    }

    func testFlipMirrorsEveryKindOfTarget() throws {
        let ds = CodedDataset(4)
        let (x, t) = try ds.batch(.train, [0, 1])
        let (fx, ft) = try DataLoader.flip(x, t, mask: [true, false], dataset: ds)
        let S = 4
        for c in 0..<2 { for r in 0..<S { for col in 0..<S {
            XCTAssertEqual(fx.data[((0 * 2 + c) * S + r) * S + col], Float(c * 100 + r * 10 + (S - 1 - col)), "sample 0 mirrored")
            XCTAssertEqual(fx.data[((1 * 2 + c) * S + r) * S + col], Float(1000 + c * 100 + r * 10 + col), "sample 1 untouched")
        } } }
        guard case .values(let n)? = ft["normal"], case .values(let d)? = ft["depth"], case .labels(let seg)? = ft["seg"],
              case .labels(let left)? = ft["left"], case .labels(let right)? = ft["right"], case .values(let count)? = ft["count"] else { return XCTFail() }
        for c in 0..<3 { for k in 0..<(S * S) {
            let mirrored = Float(c + 1) * Float(S - 1 - k % S + 1)
            XCTAssertEqual(n.data[c * S * S + k], c == 0 ? -mirrored : mirrored, "x negated, y and z not")
            XCTAssertEqual(n.data[(3 + c) * S * S + k], Float(c + 1) * Float(k % S + 1))
        } }
        for k in 0..<(S * S) { XCTAssertEqual(d.data[k], Float(S - 1 - k % S) / 10) }
        // column 0 (left, class 1) moves to column 3 and becomes class 2 (right)
        XCTAssertEqual(Array(seg[0..<4]), [1, 0, 0, 2], "flipped sample: mirrored, then relabelled 1 ↔ 2")
        XCTAssertEqual(Array(seg[16..<20]), [1, 0, 0, 2], "unflipped sample")
        XCTAssertEqual(left, [9, 1]); XCTAssertEqual(right, [0, 8])
        XCTAssertEqual(count.array, [0, 1], "global values kept")
        // a dataset without flip rules: dense mirrored, global kept
        ds.describesFlips = false
        let (_, plain) = try DataLoader.flip(x, t, mask: [true, true], dataset: ds)
        guard case .labels(let l2)? = plain["left"], case .values(let n2)? = plain["normal"] else { return XCTFail() }
        XCTAssertEqual(l2, [0, 1]); XCTAssertEqual(n2.data[0], 4)
    }

    /// Flipping a rendered scene equals rendering the mirrored scene: depth, segmentation, edges mirror; normals' x negates.
    func testFlippedSceneEqualsTheMirroredScene() throws {
        let S = 32, n = S * S
        let ds = try ScenesDataset(size: S, train: 6, test: 0, tasks: ["depth"], seed: 12, cache: false)
        let r = SceneRenderer(size: S)
        func tensor(_ v: [Float], _ c: Int) -> Tensor { let t = Tensor(uninitialized: [1, c, S, S]); for k in 0..<v.count { t.data[k] = v[k] }; return t }
        var mismatched = 0
        for i in 0..<6 {
            let scene = ds.scene(.train, i)
            var mirror = scene
            for k in mirror.objects.indices { mirror.objects[k].center.x *= -1; mirror.objects[k].angle *= -1 }
            mirror.light.x *= -1
            let a = r.render(scene), b = r.render(mirror)
            let targets: [String: TaskTarget] = ["normal": .values(tensor(a.normal, 3)), "depth": .values(tensor(a.depth, 1)),
                                                 "segment": .labels(a.segment.map(Int.init)), "edge": .values(tensor(a.occlusionEdges, 1)),
                                                 "reshade": .values(tensor(a.shading, 1)), "keypoints": .values(tensor(a.keypoints, 1))]
            let (_, f) = try DataLoader.flip(tensor(a.image, 3), targets, mask: [true], dataset: ds)
            guard case .values(let fn)? = f["normal"], case .values(let fd)? = f["depth"], case .labels(let fs)? = f["segment"],
                  case .values(let fe)? = f["edge"], case .values(let fsh)? = f["reshade"], case .values(let fk)? = f["keypoints"] else { return XCTFail() }
            for p in 0..<n {
                // pixel centres exactly on a silhouette may fall either way; count them
                if fs[p] != Int(b.segment[p]) || fe.data[p] != b.occlusionEdges[p] { mismatched += 1; continue }
                XCTAssertEqual(fd.data[p], b.depth[p], accuracy: 1e-3 * b.depth[p])
                for c in 0..<3 { XCTAssertEqual(fn.data[c * n + p], b.normal[c * n + p], accuracy: 2e-3, "normal channel \(c)") }
                XCTAssertEqual(fsh.data[p], b.shading[p], accuracy: 2e-3)
                XCTAssertEqual(fk.data[p], b.keypoints[p], accuracy: 2e-2)
            }
        }
        XCTAssertLessThan(mismatched, 6 * n / 200, "almost every pixel agrees")
    }

    func testMultiFashionFlipSwapsSides() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.defaultFolder + "/train-images-idx3-ubyte.gz") else { throw XCTSkip("no Fashion-MNIST") }
        let ds = try MultiFashionDataset(train: 8, test: 2, size: 36, seed: 2)
        let (x, t) = try ds.batch(.train, Array(0..<8))
        let (fx, ft) = try DataLoader.flip(x, t, mask: [Bool](repeating: true, count: 8), dataset: ds)
        guard case .labels(let l)? = t["left"], case .labels(let r)? = t["right"], case .labels(let fl)? = ft["left"], case .labels(let fr)? = ft["right"],
              case .labels(let fw)? = ft["which"] else { return XCTFail() }
        XCTAssertEqual(fl, r); XCTAssertEqual(fr, l)
        // after the flip, pixels labelled "left" lie in the left 28 columns, and the image is mirrored
        for b in 0..<8 { for row in 0..<36 { for c in 0..<36 {
            let k = b * 1296 + row * 36 + c
            if fw[k] == 1 { XCTAssertLessThan(c, 28) }
            if fw[k] == 2 { XCTAssertGreaterThanOrEqual(c, 8) }
            XCTAssertEqual(fx.data[k], x.data[b * 1296 + row * 36 + 35 - c])
        } } }
        // flipping needs both sides
        let one = try MultiFashionDataset(train: 8, test: 2, tasks: ["left", "which"], seed: 2)
        let (x1, t1) = try one.batch(.train, [0])
        XCTAssertThrowsError(try DataLoader.flip(x1, t1, mask: [true], dataset: one)) {
            XCTAssertTrue("\($0)".contains("trades places with 'right'"), "\($0)")
        }
    }
}
