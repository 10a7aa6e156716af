// Tests of the scenes generator: determinism, label sanity (normals, occlusion, counts), caching and speed.
import Foundation
import XCTest
import SquadTensor
import ModSquad
import SquadPluginAPI
import SquadData

final class DataScenesTests: XCTestCase {
    let all = ScenesDataset.allTasks

    func testSameSeedSameBytes() throws {
        let a = try ScenesDataset(size: 32, train: 8, test: 4, tasks: all, seed: 7, cache: false)
        let b = try ScenesDataset(size: 32, train: 8, test: 4, tasks: all, seed: 7, cache: false)
        let c = try ScenesDataset(size: 32, train: 8, test: 4, tasks: all, seed: 8, cache: false)
        XCTAssertEqual(a.encodeSamples(.train, 0..<8), b.encodeSamples(.train, 0..<8))
        XCTAssertNotEqual(a.encodeSamples(.train, 0..<8), c.encodeSamples(.train, 0..<8))
        XCTAssertNotEqual(a.encodeSamples(.train, 0..<4), a.encodeSamples(.test, 0..<4), "train and test differ")
        // batches: same values, independent of which other samples are in the batch
        let x = try a.batch(.train, [3, 5]), y = try b.batch(.train, [5, 1, 3])
        XCTAssertEqual(Array(x.images.array[0..<(3 * 1024)]), Array(y.images.array[(2 * 3 * 1024)..<(3 * 3 * 1024)]))
    }

    func testCacheRoundTripAndAtomicFiles() throws {
        let root = temporaryDirectory("msq-scenes")
        defer { try? FileManager.default.removeItem(at: root) }
        let a = try ScenesDataset(size: 32, train: 300, test: 10, tasks: ["segment", "depth", "normal", "count"], seed: 3, cacheRoot: root)
        let first = try a.batch(.train, [0, 299, 7])
        XCTAssertEqual(a.renderedChunks, 2)
        let files = try FileManager.default.subpathsOfDirectory(atPath: root.path).filter { $0.hasSuffix(".bin") }
        XCTAssertEqual(files.count, 2, "\(files)")
        XCTAssertFalse(try FileManager.default.subpathsOfDirectory(atPath: root.path).contains { $0.contains(".tmp-") })
        // a new dataset with the same parameters reads the cache, and gets the same values
        let b = try ScenesDataset(size: 32, train: 300, test: 10, tasks: ["segment", "depth", "normal", "count"], seed: 3, cacheRoot: root)
        let again = try b.batch(.train, [0, 299, 7])
        XCTAssertEqual(b.renderedChunks, 0)
        XCTAssertEqual(first.images.array, again.images.array)
        guard case .values(let d1)? = first.targets["depth"], case .values(let d2)? = again.targets["depth"] else { return XCTFail("depth") }
        XCTAssertEqual(d1.array, d2.array)
        // other parameters use other files; a corrupt file is re-rendered
        let c = try ScenesDataset(size: 32, train: 300, test: 10, tasks: ["segment"], seed: 3, cacheRoot: root)
        _ = try c.batch(.train, [0])
        XCTAssertEqual(c.renderedChunks, 1)
        let f = root.appendingPathComponent(files[0])
        try Data("garbage".utf8).write(to: f)
        let d = try ScenesDataset(size: 32, train: 300, test: 10, tasks: ["segment", "depth", "normal", "count"], seed: 3, cacheRoot: root)
        let fixed = try d.batch(.train, [0, 299, 7])
        XCTAssertEqual(d.renderedChunks, 1)
        XCTAssertEqual(fixed.images.array, first.images.array)
    }

    func testShapesAndTargets() throws {
        let ds = try ScenesDataset(size: 48, train: 4, test: 2, tasks: all, seed: 1, cache: false)
        let (images, t) = try ds.batch(.test, [0, 1])
        XCTAssertEqual(images.shape, [2, 3, 48, 48])
        XCTAssertEqual(Set(t.keys), Set(all))
        for (name, ch) in [("depth", 1), ("normal", 3), ("edge", 1), ("texture_edge", 1), ("keypoints", 1), ("reshade", 1), ("albedo", 3)] {
            guard case .values(let v)? = t[name] else { XCTFail(name); continue }
            XCTAssertEqual(v.shape, [2, ch, 48, 48], name)
        }
        guard case .labels(let seg)? = t["segment"], case .labels(let shape)? = t["shape"], case .values(let count)? = t["count"] else { return XCTFail() }
        XCTAssertEqual(seg.count, 2 * 48 * 48)
        XCTAssertTrue(seg.allSatisfy { (0...SceneShape.allCases.count).contains($0) })
        XCTAssertEqual(shape.count, 2); XCTAssertEqual(count.shape, [2, 1])
        XCTAssertTrue(images.array.allSatisfy { $0 >= 0 && $0 <= 1 })
        XCTAssertThrowsError(try ds.batch(.test, [2])) { XCTAssertTrue("\($0)".contains("outside the test split")) }
        XCTAssertThrowsError(try ScenesDataset(tasks: ["depht"], cache: false)) { XCTAssertTrue("\($0)".contains("did you mean 'depth'")) }
        XCTAssertThrowsError(try ScenesDataset(size: 8, cache: false)) { XCTAssertTrue("\($0)".contains("size")) }
    }

    func testNormalsAreUnitLength() throws {
        let ds = try ScenesDataset(size: 32, train: 16, test: 0, tasks: ["normal"], seed: 2, cache: false)
        for i in 0..<16 {
            let m = ds.render(.train, i), n = 32 * 32
            for p in 0..<n {
                let x = m.normal[p], y = m.normal[n + p], z = m.normal[2 * n + p]
                XCTAssertEqual(x * x + y * y + z * z, 1, accuracy: 1e-4, "sample \(i) pixel \(p)")
                // visible surfaces face the camera: n · ray ≤ 0 (world z is forward, the stored z points back)
                let u = (Float(p % 32) + 0.5) / 16 - 1, v = 1 - (Float(p / 32) + 0.5) / 16
                XCTAssertLessThanOrEqual(x * u / SceneRenderer.focal + y * v / SceneRenderer.focal - z, 1e-4, "sample \(i) pixel \(p)")
            }
        }
        // after storage (float16) they stay unit length within 2e-3
        guard case .values(let t)? = try ds.batch(.train, Array(0..<4)).targets["normal"] else { return XCTFail() }
        let n = 32 * 32
        for b in 0..<4 { for p in 0..<n {
            let x = t.data[(b * 3) * n + p], y = t.data[(b * 3 + 1) * n + p], z = t.data[(b * 3 + 2) * n + p]
            XCTAssertEqual((x * x + y * y + z * z).squareRoot(), 1, accuracy: 2e-3)
        } }
    }

    /// Each object rendered alone: at every pixel the full scene shows the nearest of them, in depth and segmentation alike.
    func testNearerObjectsOccludeFartherOnes() throws {
        let ds = try ScenesDataset(size: 32, train: 12, test: 0, tasks: ["segment", "depth"], seed: 5, objects: 3...5, cache: false)
        let r = SceneRenderer(size: 32)
        var overlaps = 0
        for i in 0..<12 {
            let scene = ds.scene(.train, i), full = r.render(scene)
            var singles: [SceneMaps] = []
            for o in scene.objects { var s = scene; s.objects = [o]; singles.append(r.render(s)) }
            for p in 0..<(32 * 32) {
                let covering = singles.indices.filter { singles[$0].instance[p] == 0 }
                if covering.count > 1 { overlaps += 1 }
                if let nearest = covering.min(by: { singles[$0].depth[p] < singles[$1].depth[p] }) {
                    XCTAssertEqual(full.instance[p], Int32(nearest), "sample \(i) pixel \(p)")
                    XCTAssertEqual(full.depth[p], singles[nearest].depth[p], accuracy: 1e-5)
                    XCTAssertEqual(Int(full.segment[p]), scene.objects[nearest].shape.rawValue + 1)
                } else {
                    XCTAssertLessThan(full.instance[p], 0, "background where no object covers")
                    XCTAssertEqual(full.segment[p], 0)
                    XCTAssertEqual(full.depth[p], singles[0].depth[p], accuracy: 1e-5)
                }
            }
        }
        XCTAssertGreaterThan(overlaps, 20, "the test saw occlusions")
    }

    func testCountsAndDominantShapeMatchSegmentation() throws {
        let ds = try ScenesDataset(size: 32, train: 40, test: 0, tasks: ["segment", "count", "shape"], seed: 9, cache: false)
        let (_, t) = try ds.batch(.train, Array(0..<40))
        guard case .labels(let seg)? = t["segment"], case .values(let count)? = t["count"], case .labels(let shape)? = t["shape"] else { return XCTFail() }
        var counts = Set<Int>()
        for i in 0..<40 {
            let m = ds.render(.train, i)
            let visible = Set(m.instance.filter { $0 >= 0 })
            XCTAssertEqual(Int(count.data[i]), visible.count)
            XCTAssertGreaterThanOrEqual(visible.count, 1)
            counts.insert(visible.count)
            // every visible instance's pixels carry its class in the segmentation
            for p in 0..<1024 where m.instance[p] >= 0 {
                XCTAssertEqual(seg[i * 1024 + p], ds.scene(.train, i).objects[Int(m.instance[p])].shape.rawValue + 1)
            }
            var perClass = [Int](repeating: 0, count: 6)
            for p in 0..<1024 { perClass[seg[i * 1024 + p]] += 1 }
            let best = perClass[1...].max()!
            XCTAssertEqual(perClass[shape[i] + 1], best, "dominant shape covers the most pixels")
        }
        XCTAssertGreaterThan(counts.count, 1, "object counts vary")
    }

    func testEdgesAndKeypoints() throws {
        let ds = try ScenesDataset(size: 32, train: 6, test: 0, tasks: ["edge", "texture_edge", "keypoints"], seed: 4, cache: false)
        for i in 0..<6 {
            let m = ds.render(.train, i)
            for p in 0..<1024 {
                let r = p / 32, c = p % 32
                let neighbours = [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)].filter { $0.0 >= 0 && $0.0 < 32 && $0.1 >= 0 && $0.1 < 32 }.map { $0.0 * 32 + $0.1 }
                let crosses = neighbours.contains { m.instance[$0] != m.instance[p] && (m.instance[$0] >= 0 || m.instance[p] >= 0) }
                XCTAssertEqual(m.occlusionEdges[p], crosses ? 1 : 0)
                if m.textureEdges[p] == 1 { XCTAssertTrue(neighbours.contains { m.instance[$0] == m.instance[p] }) }
            }
            XCTAssertTrue(m.keypoints.allSatisfy { $0 >= 0 && $0 <= 1 })
            XCTAssertGreaterThan(m.keypoints.max()!, 0.5, "some keypoint is visible")
        }
    }

    /// Single-core generation speed (render + encode); the issue asks ≥ 2,000/s of 32×32 in release.
    func testThroughput() throws {
        let ds = try ScenesDataset(size: 32, train: 1, test: 0, tasks: ScenesDataset.allTasks, seed: 11, cache: false)
        _ = ds.encodeSamples(.train, 0..<50)
        let n = 600, t0 = Date()
        _ = ds.encodeSamples(.train, 0..<n)
        let rate = Double(n) / Date().timeIntervalSince(t0)
        print("scenes 32×32, all tasks, one core: \(Int(rate)) samples/s")
        XCTAssertGreaterThan(rate, 300, "far too slow even for a shared debug machine")
    }

    /// Writes a grid of samples to $MSQ_DUMP_SCENES (a PNG path) for looking at.
    func testDumpWhenAsked() throws {
        guard let path = ProcessInfo.processInfo.environment["MSQ_DUMP_SCENES"] else { return }
        let S = Int(ProcessInfo.processInfo.environment["MSQ_DUMP_SIZE"] ?? "64") ?? 64
        let ds = try ScenesDataset(size: S, train: 8, test: 0, tasks: ScenesDataset.allTasks, seed: 1, cache: false)
        let grid = Tensor(zeros: [3, 8 * S, 6 * S])
        for i in 0..<8 {
            let m = ds.render(.train, i), n = S * S
            let palette: [[Float]] = [[0.2, 0.2, 0.2], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1]]
            for p in 0..<n {
                let r = i * S + p / S, c = p % S
                var cols: [[Float]] = []
                cols.append([m.image[p], m.image[n + p], m.image[2 * n + p]])
                cols.append(Array(repeating: m.depth[p] / SceneRenderer.wall, count: 3))
                cols.append([(m.normal[p] + 1) / 2, (m.normal[n + p] + 1) / 2, (m.normal[2 * n + p] + 1) / 2])
                cols.append(palette[Int(m.segment[p])])
                cols.append([m.occlusionEdges[p], m.textureEdges[p], m.keypoints[p]])
                cols.append(Array(repeating: m.shading[p], count: 3))
                for (k, v) in cols.enumerated() { for ch in 0..<3 { grid.data[(ch * 8 * S + r) * 6 * S + k * S + c] = v[ch] } }
            }
        }
        try PNG.write(grid, to: URL(fileURLWithPath: path))
    }
}
