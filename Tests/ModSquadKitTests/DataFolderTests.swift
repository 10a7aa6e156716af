// Tests of user folders with manifest.csv: a round trip through export and load, PNG I/O, and every bad input with its message.
import Foundation
import XCTest
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI
import SquadData

final class DataFolderTests: XCTestCase {
    /// Equal arrays; on a difference names the count and the first index instead of printing everything.
    func assertSame(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard a.count == b.count else { return XCTFail("\(what): \(a.count) vs \(b.count) values", file: file, line: line) }
        let bad = a.indices.filter { a[$0] != b[$0] }
        if let i = bad.first { XCTFail("\(what): \(bad.count) of \(a.count) differ, first at \(i): \(a[i]) vs \(b[i])", file: file, line: line) }
    }

    func testRoundTripThroughExport() throws {
        let dir = temporaryDirectory("msq-folder")
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = try ScenesDataset(size: 16, train: 5, test: 3, tasks: ["segment", "depth", "normal", "count", "shape", "albedo"], seed: 4, cache: false)
        let manifest = try FolderDataset.export(src, to: dir)
        let header = try String(contentsOf: manifest, encoding: .utf8).split(separator: "\n")[0]
        XCTAssertEqual(header, "image,split,segment:segment,depth:dense,normal:normal,count:value,shape:class,albedo:dense")
        let ds = try FolderDataset(path: dir.path)
        XCTAssertEqual(ds.count(.train), 5); XCTAssertEqual(ds.count(.test), 3); XCTAssertEqual(ds.imageSize, 16)
        XCTAssertEqual(ds.taskNames, src.taskNames)
        XCTAssertEqual(ds.columns.first { $0.name == "albedo" }?.size, 3)
        XCTAssertEqual(ds.flipRule(for: "normal"), .mirrorNegating(channels: [0]))
        for split in [DataSplit.train, .test] {
            let idx = Array(0..<ds.count(split))
            let (a, ta) = try src.batch(split, idx), (b, tb) = try ds.batch(split, idx)
            assertSame(a.array, b.array, "images survive PNG exactly (8-bit)")
            for t in src.taskNames {
                switch (ta[t]!, tb[t]!) {
                case let (.labels(x), .labels(y)): assertSame(x.map(Float.init), y.map(Float.init), t)
                case let (.values(x), .values(y)): XCTAssertEqual(x.shape, y.shape, t); assertSame(x.array, y.array, t)
                default: XCTFail("\(t) changed kind")
                }
            }
        }
        // without a split column: a seeded random share of the rows
        var text = try String(contentsOf: manifest, encoding: .utf8)
        text = text.split(separator: "\n").map { line in
            var f = line.split(separator: ",", omittingEmptySubsequences: false); f.remove(at: 1); return f.joined(separator: ",")
        }.joined(separator: "\n")
        try text.write(to: manifest, atomically: true, encoding: .utf8)
        let split = try FolderDataset(path: manifest.path, test: 0.25, seed: 1)
        XCTAssertEqual(split.count(.test), 2); XCTAssertEqual(split.count(.train), 6)
    }

    func testPNGReadWrite() throws {
        let dir = temporaryDirectory("msq-png")
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = Tensor(uninitialized: [3, 5, 7])
        for i in 0..<t.count { t.data[i] = Float(i % 256) / 255 }
        let u = dir.appendingPathComponent("a.png")
        try PNG.write(t, to: u)
        XCTAssertEqual(try PNG.read(u).array, t.array)
        let grey = try Tensor([0, 0.5, 1, 0.25], shape: [1, 2, 2])
        try PNG.write(grey, to: u)
        let back = try PNG.readBytes(u)
        XCTAssertEqual(back.rgb, [0, 128, 255, 64, 0, 128, 255, 64, 0, 128, 255, 64])
        XCTAssertThrowsError(try PNG.write(Tensor(zeros: [2, 2, 2]), to: u)) { XCTAssertTrue("\($0)".contains("[3, H, W]")) }
    }

    // MARK: bad inputs

    /// A folder with 2×2 PNGs a.png, b.png (and c4.png 4×4, wide.png 3×2), d.npy [2, 2], and a manifest of `lines`.
    func folder(_ lines: [String]) throws -> URL {
        let dir = temporaryDirectory("msq-bad")
        for name in ["a", "b"] { try PNG.write(Tensor(repeating: 0.5, shape: [3, 2, 2]), to: dir.appendingPathComponent("\(name).png")) }
        try PNG.write(Tensor(repeating: 0.5, shape: [3, 4, 4]), to: dir.appendingPathComponent("c4.png"))
        try PNG.write(Tensor(repeating: 0.5, shape: [3, 2, 3]), to: dir.appendingPathComponent("wide.png"))
        try NPY.write(try Tensor([1, 2, 3, 4], shape: [2, 2]), to: dir.appendingPathComponent("d.npy"))
        try NPY.write(try Tensor([1, 2, 3, 4, 5, 6, 7, 8], shape: [2, 2, 2]), to: dir.appendingPathComponent("d2.npy"))
        try NPY.write(try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), to: dir.appendingPathComponent("d23.npy"))
        try NPY.write(try Tensor([0, 1.5, 2, 1], shape: [2, 2]), to: dir.appendingPathComponent("frac.npy"))
        try NPY.write(try Tensor([0, .nan, 2, 1], shape: [2, 2]), to: dir.appendingPathComponent("nan.npy"))
        try Data("not a png".utf8).write(to: dir.appendingPathComponent("junk.png"))
        try Data("not npy".utf8).write(to: dir.appendingPathComponent("junk.npy"))
        try (lines.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("manifest.csv"), atomically: true, encoding: .utf8)
        return dir
    }

    /// Loading `lines` fails with an error naming manifest.csv, the row (nil: none) and containing `part`.
    func assertBad(_ lines: [String], row: Int?, _ part: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let dir = try folder(lines)
            defer { try? FileManager.default.removeItem(at: dir) }
            XCTAssertThrowsError(try FolderDataset(path: dir.path), file: file, line: line) { e in
                let text = "\(e)", manifest = dir.appendingPathComponent("manifest.csv").path
                XCTAssertTrue(text.hasPrefix(manifest + (row.map { ", row \($0):" } ?? ":")), "\(text) should start with the manifest and row \(row.map(String.init) ?? "-")", file: file, line: line)
                XCTAssertTrue(text.contains(part), "\(text) should contain \(part)", file: file, line: line)
            }
        } catch { XCTFail("fixture: \(error)", file: file, line: line) }
    }

    func testEveryBadInputNamesFileAndRow() throws {
        assertBad([], row: nil, "is empty")
        assertBad(["picture,label:class", "a.png,1"], row: 1, "first column must be 'image', found 'picture'")
        assertBad(["image,label", "a.png,1"], row: 1, "column 'label' must be written name:kind")
        assertBad(["image,label:klass", "a.png,1"], row: 1, "unknown kind 'klass'; kinds: class, value, dense, rgb, normal, segment")
        assertBad(["image,label:class,label:value", "a.png,1,2"], row: 1, "column 'label' appears twice")
        assertBad(["image", "a.png"], row: 1, "no task columns")
        assertBad(["image,label:class"], row: nil, "no rows")
        assertBad(["image,label:class", "a.png,1", "b.png"], row: 3, "has 1 fields, the header has 2")
        assertBad(["image,label:class", "a.png,1", "missing.png,0"], row: 3, "image file 'missing.png' is missing")
        assertBad(["image,label:class", "junk.png,1"], row: 2, "image file 'junk.png': not a readable PNG")
        assertBad(["image,label:class", "wide.png,1"], row: 2, "image 'wide.png' is 3×2; images must be square")
        assertBad(["image,label:class", "a.png,1", "c4.png,1"], row: 3, "image 'c4.png' is 4×4 but the first image is 2×2")
        assertBad(["image,label:class", "a.png,cat"], row: 2, "bad value 'cat' for 'label:class': expected a class index")
        assertBad(["image,label:class", "a.png,-1"], row: 2, "bad value '-1'")
        assertBad(["image,score:value", "a.png,1.5", "b.png,high"], row: 3, "bad value 'high' for 'score:value'")
        assertBad(["image,score:value", "a.png,1;2", "b.png,3"], row: 3, "'score:value' has 1 numbers, earlier rows have 2")
        assertBad(["image,label:class", "a.png,"], row: 2, "missing value for 'label:class'")
        assertBad(["image,split,label:class", "a.png,val,1"], row: 2, "bad split 'val': expected train or test")
        assertBad(["image,depth:dense", "a.png,nothere.npy"], row: 2, "depth file 'nothere.npy': ")
        assertBad(["image,depth:dense", "a.png,nothere.png"], row: 2, "depth file 'nothere.png' is missing")
        assertBad(["image,depth:dense", "a.png,d.jpg"], row: 2, "'d.jpg' for 'depth:dense' must be a .png or .npy file")
        assertBad(["image,depth:dense", "a.png,d23.npy"], row: 2, "wrong size: 'd23.npy' for 'depth:dense' has shape [2, 3], expected [2, 2] or [C, 2, 2]")
        assertBad(["image,depth:dense", "a.png,c4.png"], row: 2, "wrong size: 'c4.png' for 'depth:dense' is 4×4, the images are 2×2")
        assertBad(["image,depth:dense", "a.png,d.npy", "b.png,d2.npy"], row: 3, "has 2 channels, earlier rows have 1")
        assertBad(["image,depth:dense", "a.png,junk.npy"], row: 2, "depth file 'junk.npy': ")
        assertBad(["image,depth:dense", "a.png,nan.npy"], row: 2, "bad value: 'nan.npy' has a non-finite value")
        assertBad(["image,seg:segment", "a.png,frac.npy"], row: 2, "bad value: 'frac.npy' has 1.5 at pixel (0, 1)")
        assertBad(["image,n:normal", "a.png,d.npy"], row: 2, "wrong size: 'd.npy' for 'n:normal' has 1 channels, expected 3")
        assertBad(["image,label:class", "\"a.png,1"], row: 2, "a quoted field is not closed")
        XCTAssertThrowsError(try FolderDataset(path: "/nonexistent/data")) { XCTAssertEqual("\($0)", "/nonexistent/data/manifest.csv: no such file") }
    }

    func testManifestDetails() throws {
        // quoted fields, spaces, blank lines, PNG dense and segment targets
        let dir = try folder(["image , label:class, \"note,s\":value", "", "\"a.png\", 3 , 1.5", "b.png,0,2"])
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try FolderDataset(path: dir.path)) { XCTAssertTrue("\($0)".contains("column name 'note,s'")) }
        try "image,label:class,mask:segment,shade:dense,split\na.png,3,b.png,a.png,train\nb.png,0,a.png,b.png,test\n"
            .write(to: dir.appendingPathComponent("manifest.csv"), atomically: true, encoding: .utf8)
        let ds = try FolderDataset(path: dir.path)
        XCTAssertEqual(ds.columns.map(\.size), [4, 129, 1], "classes from the largest label; PNG segment classes are red bytes")
        let (_, t) = try ds.batch(.train, [0])
        guard case .labels(let l)? = t["label"], case .values(let s)? = t["shade"] else { return XCTFail() }
        XCTAssertEqual(l, [3]); XCTAssertEqual(s.shape, [1, 1, 2, 2]); XCTAssertEqual(s.data[0], 128 / 255, accuracy: 1e-6)
    }
}
