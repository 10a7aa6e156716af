// Plot layer tests: canvas PNG round trips and atomic writes, colour maps, ticks, and the expert-usage and task-relation heatmaps.
import XCTest
import Foundation
import SquadTensor
@testable import ModSquad
import SquadPlot

/// Pixel helpers shared by the plot tests.
enum PlotCheck {
    /// Asserts the PNG at `path` is readable and `w`×`h`; returns it.
    static func png(_ path: String, _ w: Int? = nil, _ h: Int? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> RasterImage {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature of \(path)", file: file, line: line)
        let img = try RasterImage.read(path)
        if let w = w { XCTAssertEqual(img.width, w, "width of \(path)", file: file, line: line) }
        if let h = h { XCTAssertEqual(img.height, h, "height of \(path)", file: file, line: line) }
        return img
    }

    static func distance(_ img: RasterImage, _ x: Double, _ y: Double, _ c: Color) -> Int {
        guard let p = img.pixel(at: x, y) else { return 999 }
        let e = c.bytes
        return max(abs(Int(p.r) - Int(e.r)), abs(Int(p.g) - Int(e.g)), abs(Int(p.b) - Int(e.b)))
    }

    static func assertColor(_ img: RasterImage, _ x: Double, _ y: Double, _ c: Color, tolerance: Int = 2, _ msg: String = "",
                            file: StaticString = #filePath, line: UInt = #line) {
        let p = img.pixel(at: x, y)
        XCTAssertLessThanOrEqual(distance(img, x, y, c), tolerance,
                                 "\(msg) pixel (\(Int(x)), \(Int(y))) is \(p.map { "\($0.r),\($0.g),\($0.b)" } ?? "outside") not \(c)", file: file, line: line)
    }

    /// A point inside a cell away from its centred annotation and its anti-aliased edges.
    static func corner(_ r: PlotRect) -> (Double, Double) { (r.x + 3.5, r.y + 3.5) }

    /// Whether any pixel of `r` is within `tolerance` of `c`.
    static func contains(_ img: RasterImage, _ r: PlotRect, _ c: Color, tolerance: Int = 24) -> Bool {
        for y in Int(r.y)..<Int(r.maxY) { for x in Int(r.x)..<Int(r.maxX) where distance(img, Double(x), Double(y), c) <= tolerance { return true } }
        return false
    }
}

final class PlotTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = temporaryDirectory("plot") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// A toy squad ("both" layout: MoA and MoE-MLP in each of 2 blocks) with exact usage statistics.
    func modelWithUsage(experts: Int = 4) throws -> SquadModel {
        let m = try SquadModel(Toy.config(layout: "both", experts: experts))
        for l in ["blocks.0.attn", "blocks.0.mlp", "blocks.1.attn", "blocks.1.mlp"] {
            for (ti, t) in m.tasks.enumerated() {
                // Each task leans on expert (ti + layer length) mod E.
                var row = [Double](repeating: 1, count: experts)
                row[(ti + l.count) % experts] = 7
                if t == "which" && l == "blocks.1.mlp" { row = [Double](repeating: 0, count: experts); row[experts - 1] = 10 }
                m.usage.set(layer: l, task: t, ema: row)
            }
        }
        return m
    }

    func testCanvasWritesPNGAtScaleAndReadsItBack() throws {
        for scale in [1.0, 2.0] {
            let c = try Canvas(width: 50, height: 30, scale: scale)
            c.fill(PlotRect(x: 10, y: 5, width: 20, height: 10), Color(hex: 0xFF0000))
            c.text("Ag", x: 40, y: 20, size: 10)
            let p = path("c\(Int(scale)).png")
            try c.writePNG(to: p)
            let img = try PlotCheck.png(p, Int(50 * scale), Int(30 * scale))
            PlotCheck.assertColor(img, 20 * scale, 10 * scale, Color(hex: 0xFF0000), tolerance: 0)
            PlotCheck.assertColor(img, 2 * scale, 2 * scale, .white, tolerance: 0)
        }
    }

    func testWriteIsAtomicOverwritesAndCreatesFolders() throws {
        let p = path("sub/dir/a.png")
        try Canvas(width: 8, height: 8).writePNG(to: p)
        try Canvas(width: 9, height: 7).writePNG(to: p)
        _ = try PlotCheck.png(p, 9, 7)
        let left = try FileManager.default.contentsOfDirectory(atPath: path("sub/dir"))
        XCTAssertEqual(left, ["a.png"], "no temporary files stay behind")
    }

    func testUnwritablePathsGiveClearErrors() throws {
        let fileAsDir = path("plain.txt")
        try "x".write(toFile: fileAsDir, atomically: true, encoding: .utf8)
        let c = try Canvas(width: 8, height: 8)
        XCTAssertThrowsError(try c.writePNG(to: fileAsDir + "/x.png")) { e in
            guard case PlotError.cannotWrite(let p, let why) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, fileAsDir + "/x.png")
            XCTAssertTrue(why.contains("is a file, not a folder"), why)
            XCTAssertTrue("\(e)".hasPrefix("cannot write '\(fileAsDir)/x.png'"), "\(e)")
        }
        XCTAssertThrowsError(try c.writePNG(to: dir.path)) { XCTAssertTrue("\($0)".contains("it is a folder"), "\($0)") }
        XCTAssertThrowsError(try c.writePNG(to: "")) { XCTAssertTrue("\($0)".contains("empty"), "\($0)") }
        XCTAssertThrowsError(try c.writePNG(to: "/proc/no-such-dir/x.png")) { e in
            guard case PlotError.cannotWrite = e else { return XCTFail("\(e)") }
        }
        // A plot to an unwritable path fails the same way and leaves nothing behind.
        let m = try modelWithUsage()
        XCTAssertThrowsError(try plotExperts(m, to: fileAsDir + "/experts.png")) { e in
            XCTAssertTrue("\(e)".contains("cannot write '\(fileAsDir)/experts.png'"), "\(e)")
        }
        XCTAssertEqual(try String(contentsOfFile: fileAsDir, encoding: .utf8), "x")
        XCTAssertThrowsError(try RasterImage.read(path("missing.png"))) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
        XCTAssertThrowsError(try RasterImage.read(fileAsDir)) { e in guard case PlotError.cannotRead = e else { return XCTFail("\(e)") } }
    }

    func testCanvasRejectsUndrawableSizes() {
        XCTAssertThrowsError(try Canvas(width: 0, height: 10)) { XCTAssertTrue("\($0)".contains("not drawable"), "\($0)") }
        XCTAssertThrowsError(try Canvas(width: 100_000, height: 10)) { XCTAssertTrue("\($0)".contains("larger than"), "\($0)") }
        XCTAssertThrowsError(try Canvas(width: .nan, height: 10))
    }

    func testColorMaps() {
        XCTAssertEqual(ColorMap.blues.color(0), Color(hex: 0xF7FBFF))
        XCTAssertEqual(ColorMap.blues.color(1), Color(hex: 0x08306B))
        XCTAssertEqual(ColorMap.viridis.color(0), Color(hex: 0x440154))
        XCTAssertEqual(ColorMap.viridis.color(1), Color(hex: 0xFDE725))
        XCTAssertEqual(ColorMap.diverging.color(0.5), Color(hex: 0xF7F7F7))
        XCTAssertGreaterThan(ColorMap.diverging.color(1).r, ColorMap.diverging.color(1).b, "high end is red")
        XCTAssertLessThan(ColorMap.diverging.color(0).r, ColorMap.diverging.color(0).b, "low end is blue")
        let lum = stride(from: 0.0, through: 1, by: 0.05).map { ColorMap.blues.color($0).luminance }
        XCTAssertEqual(lum, lum.sorted(by: >), "Blues darkens monotonically")
        XCTAssertEqual(ColorMap.blues.color(5, lo: 0, hi: 10), ColorMap.blues.color(0.5))
        XCTAssertEqual(ColorMap.blues.color(-3), ColorMap.blues.color(0), "clamped")
        XCTAssertEqual(ColorMap.named("viridis")?.name, "viridis")
        XCTAssertEqual(ColorMap.named("diverging")?.name, "RdBu_r")
        XCTAssertNil(ColorMap.named("jet"))
        let first30 = (0..<30).map { Palette.categorical($0).description }
        XCTAssertEqual(Set(first30).count, 30, "categorical colours are distinct")
    }

    func testTicksAndNumberFormats() {
        let t = Ticks.nice(0, 1, target: 5)
        XCTAssertEqual(t.count, 6)
        for (a, b) in zip(t, [0, 0.2, 0.4, 0.6, 0.8, 1]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(Ticks.labels(Ticks.nice(0, 1, target: 5)), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        XCTAssertEqual(Ticks.labels(Ticks.nice(0, 300, target: 3)), ["0", "100", "200", "300"])
        XCTAssertEqual(Ticks.log(0.1, 10), [0.1, 0.2, 0.5, 1, 2, 5, 10])
        XCTAssertEqual(Ticks.compact(22_100_000), "22.1M")
        XCTAssertEqual(Ticks.compact(4.3e9), "4.3G")
        XCTAssertEqual(Ticks.compact(6e9), "6G")
        XCTAssertEqual(Ticks.compact(950), "950")
        XCTAssertEqual(Ticks.format(.nan), "nan")
        XCTAssertEqual(Ticks.nice(.nan, 1), [])
    }

    func testExpertHeatmapsDrawTheUsageData() throws {
        let m = try modelWithUsage()
        let out = try plotExperts(m, to: path("experts.png"))
        XCTAssertEqual(out.paths, [path("experts.png")])
        let img = try PlotCheck.png(out.paths[0], out.width, out.height)
        XCTAssertGreaterThan(img.width, 400); XCTAssertGreaterThan(img.height, 250)
        let tasks = ["bright", "edge", "which"]   // alphabetical rows
        for l in m.usage.layers {
            let u = tasks.map { m.usage.percentages(layer: l, task: $0)! }
            let hi = u.joined().max()!
            for (ti, t) in tasks.enumerated() {
                for e in 0..<4 {
                    guard let r = out.regions["\(l)/\(t)/\(e)"] else { return XCTFail("no cell \(l)/\(t)/\(e)") }
                    let (x, y) = PlotCheck.corner(r)
                    PlotCheck.assertColor(img, x, y, ColorMap.blues.color(u[ti][e] / hi), "\(l) \(t) e\(e)")
                }
            }
            // Rows in alphabetical order, columns in expert order.
            let ys = tasks.map { out.regions["\(l)/\($0)/0"]!.y }, xs = (0..<4).map { out.regions["\(l)/bright/\($0)"]!.x }
            XCTAssertEqual(ys, ys.sorted()); XCTAssertEqual(xs, xs.sorted())
        }
        // The hottest cell (which uses only expert 3 in blocks.1.mlp: 100 %) is the darkest Blues.
        let hot = out.regions["blocks.1.mlp/which/3"]!
        let (hx, hy) = PlotCheck.corner(hot)
        PlotCheck.assertColor(img, hx, hy, Color(hex: 0x08306B), tolerance: 1, "hottest cell")
        let cold = out.regions["blocks.1.mlp/which/0"]!
        PlotCheck.assertColor(img, cold.x + 3.5, cold.y + 3.5, Color(hex: 0xF7FBFF), tolerance: 1, "empty cell")
        // The annotation is written in the hottest cell: white text on navy.
        XCTAssertTrue(PlotCheck.contains(img, hot.inset(6), .white, tolerance: 30), "annotation on the hottest cell")
    }

    func testExpertHeatmapsPerLayerFilesAndSizes() throws {
        let m4 = try modelWithUsage(experts: 4), m8 = try modelWithUsage(experts: 8)
        let a = try plotExperts(m4, to: path("layers/experts.png"), perLayer: true, title: nil)
        XCTAssertEqual(a.paths, ["blocks.0.attn", "blocks.0.mlp", "blocks.1.attn", "blocks.1.mlp"].map { path("layers/experts_\($0).png") })
        for f in a.files {
            let img = try PlotCheck.png(f.path, f.width, f.height)
            let l = URL(fileURLWithPath: f.path).deletingPathExtension().lastPathComponent.replacingOccurrences(of: "experts_", with: "")
            let u = m4.usage.percentages(layer: l, task: "edge")!
            let hi = ["bright", "edge", "which"].flatMap { m4.usage.percentages(layer: l, task: $0)! }.max()!
            let e = u.firstIndex(of: u.max()!)!
            let (x, y) = PlotCheck.corner(f.regions["\(l)/edge/\(e)"]!)
            PlotCheck.assertColor(img, x, y, ColorMap.blues.color(u[e] / hi), "\(l)")
        }
        // A folder path gives <folder>/experts_<layer>.png; 4 more experts widen each heatmap by 4 cells of 30.
        let b = try plotExperts(m8, to: path("layers8"), perLayer: true, layers: ["blocks.0.mlp"], title: nil)
        XCTAssertEqual(b.paths, [path("layers8/experts_blocks.0.mlp.png")])
        _ = try PlotCheck.png(b.paths[0], b.width, b.height)
        XCTAssertEqual(b.width - a.files[1].width, 120)
        XCTAssertEqual(b.height, a.files[1].height)
        // Scale 2 doubles the image.
        let c = try plotExperts(m4, to: path("x2.png"), perLayer: false, layers: ["blocks.0.mlp"], style: PlotStyle(scale: 2))
        let one = try plotExperts(m4, to: path("x1.png"), perLayer: false, layers: ["blocks.0.mlp"])
        _ = try PlotCheck.png(c.paths[0], 2 * one.width, 2 * one.height)
    }

    func testExpertPlotsWithoutStatisticsFailClearly() throws {
        let fresh = try SquadModel(Toy.config())
        for call in [{ try plotExperts(fresh, to: self.path("e.png")) }, { try plotRelations(fresh, to: self.path("e.png")) }] {
            XCTAssertThrowsError(try call()) { e in
                guard case PlotError.emptyStatistics = e else { return XCTFail("\(e)") }
                XCTAssertTrue("\(e)".contains("no expert usage statistics yet"), "\(e)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("e.png")))
        let m = try modelWithUsage()
        XCTAssertThrowsError(try plotExperts(m, to: path("e.png"), layers: ["blocks.7.mlp"])) { e in
            XCTAssertEqual("\(e)", "plot_experts: no usage statistics for layer 'blocks.7.mlp'; known: blocks.0.attn, blocks.0.mlp, blocks.1.attn, blocks.1.mlp")
        }
        XCTAssertThrowsError(try plotExperts(m, to: path("e.png"), layers: [])) { XCTAssertTrue("\($0)".contains("the list of layers is empty"), "\($0)") }
        let bad = UsageStats()
        bad.set(layer: "l", task: "t", ema: [1, .infinity])
        XCTAssertThrowsError(try plotExperts(bad, to: path("e.png"))) { XCTAssertTrue("\($0)".contains("not finite"), "\($0)") }
    }

    func testExpertsOfAnExtractedModelUseFullModelNumbers() throws {
        let m = try modelWithUsage()
        for l in m.usage.layers { m.usage.set(layer: l, task: "edge", ema: [0.01, 5, 0.01, 5]) }
        let (small, report) = try m.extract(task: "edge")
        XCTAssertEqual(report.keptPerLayer.map(\.kept), [[1, 3], [1, 3], [1, 3], [1, 3]])
        let out = try plotExperts(small, to: path("small.png"))
        let img = try PlotCheck.png(out.paths[0], out.width, out.height)
        for l in m.usage.layers {
            XCTAssertNotNil(out.regions["\(l)/edge/1"]); XCTAssertNotNil(out.regions["\(l)/edge/3"])
            XCTAssertNil(out.regions["\(l)/edge/0"], "only kept experts are columns")
            let (x, y) = PlotCheck.corner(out.regions["\(l)/edge/3"]!)
            PlotCheck.assertColor(img, x, y, ColorMap.blues.color(1), "\(l)")
        }
    }

    func testTaskRelationsMatrixAndClusteredOrder() throws {
        // a and c share experts 0-1, b and d share 2-3, e is spread; two layers.
        let u = UsageStats()
        let rows: [String: [Double]] = ["a": [5, 4, 1, 0], "b": [0, 1, 4, 5], "c": [4, 5, 0, 1], "d": [1, 0, 5, 4], "e": [1, 1, 1, 1]]
        for l in ["x", "y"] { for (t, r) in rows { u.set(layer: l, task: t, ema: r) } }
        let rel = try taskRelations(u)
        XCTAssertEqual(rel.tasks, ["a", "b", "c", "d", "e"])
        func frac(_ t: String) -> [Double] { let r = rows[t]!; let s = r.reduce(0, +); return r.map { $0 / s } }
        for (i, a) in rel.tasks.enumerated() { for (j, b) in rel.tasks.enumerated() {
            let want = 2 * zip(frac(a), frac(b)).map { $0 * $1 }.reduce(0, +)
            XCTAssertEqual(rel.matrix[i][j], want, accuracy: 1e-12, "R[\(a), \(b)]")
        } }
        let o = rel.orderedTasks
        func adjacent(_ p: String, _ q: String) -> Bool { abs(o.firstIndex(of: p)! - o.firstIndex(of: q)!) == 1 }
        XCTAssertTrue(adjacent("a", "c"), "\(o)"); XCTAssertTrue(adjacent("b", "d"), "\(o)")
        XCTAssertEqual(Set(o), Set(rows.keys))
        XCTAssertEqual(relationOrder([[1]]), [0])
        XCTAssertEqual(relationOrder([]), [])

        let out = try plotRelations(u, to: path("rel.png"))
        let img = try PlotCheck.png(out.paths[0], out.width, out.height)
        let flat = rel.matrix.joined()
        let lo = flat.min()!, hi = flat.max()!
        for (i, a) in rel.tasks.enumerated() { for (j, b) in rel.tasks.enumerated() {
            guard let r = out.regions["\(a)/\(b)"] else { return XCTFail("no cell \(a)/\(b)") }
            let (x, y) = PlotCheck.corner(r)
            PlotCheck.assertColor(img, x, y, ColorMap.blues.color(rel.matrix[i][j], lo: lo, hi: hi), "R[\(a), \(b)]")
        } }
        // Cells follow the clustered order along both axes.
        let xs = o.map { out.regions["\(o[0])/\($0)"]!.x }, ys = o.map { out.regions["\($0)/\(o[0])"]!.y }
        XCTAssertEqual(xs, xs.sorted()); XCTAssertEqual(ys, ys.sorted())
    }

    func testRelationsOfAModelAndLayerSubset() throws {
        let m = try modelWithUsage()
        let all = try taskRelations(m.usage), one = try taskRelations(m.usage, layers: ["blocks.0.attn"])
        XCTAssertEqual(all.tasks, ["bright", "edge", "which"])
        XCTAssertLessThan(one.matrix[0][0], all.matrix[0][0])
        let out = try plotRelations(m, to: path("r.png"), layers: ["blocks.0.attn", "blocks.1.mlp"])
        _ = try PlotCheck.png(out.paths[0], out.width, out.height)
        XCTAssertEqual(out.regions.keys.filter { !$0.contains("grid") }.count, 9)
    }
}
