// Tests of the IDX/gzip reader (real Fashion-MNIST files and corrupt ones), the Fashion multi-task set and MultiFashion labels.
import Foundation
import XCTest
import SquadTensor
import ModSquad
import SquadPluginAPI
import SquadData

final class DataFashionTests: XCTestCase {
    let folder = FashionMNIST.defaultFolder

    func requireFashion() throws {
        let f = URL(fileURLWithPath: folder).appendingPathComponent("t10k-labels-idx1-ubyte.gz")
        if !FileManager.default.fileExists(atPath: f.path) {
            // CI installs the Debian package (scripts/setup.sh); a missing package there is a failure.
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("dataset-fashion-mnist is not installed") }
            throw XCTSkip("dataset-fashion-mnist is not installed")
        }
    }

    func testIDXReaderOnTheRealFiles() throws {
        try requireFashion()
        let labels = try IDX.read(URL(fileURLWithPath: folder + "/t10k-labels-idx1-ubyte.gz"))
        XCTAssertEqual(labels.shape, [10000]); XCTAssertEqual(labels.typeCode, 0x08)
        var perClass = [Int](repeating: 0, count: 10)
        for v in labels.payload { perClass[Int(v)] += 1 }
        XCTAssertEqual(perClass, [Int](repeating: 1000, count: 10), "the test set has 1000 items per class")
        XCTAssertEqual(Array(labels.payload.prefix(5)), [9, 2, 1, 1, 6], "the published first test labels")
        let images = try IDX.read(URL(fileURLWithPath: folder + "/t10k-images-idx3-ubyte.gz"))
        XCTAssertEqual(images.shape, [10000, 28, 28])
        XCTAssertEqual(images.payload.count, 10000 * 784)
        XCTAssertGreaterThan(images.payload.max()!, 200)
        let train = try FashionMNIST.load(folder)
        XCTAssertEqual(train.count(.train), 60000); XCTAssertEqual(train.count(.test), 10000)
        XCTAssertEqual(train.trainImages.count, 60000 * 784)
    }

    func idx(_ type: UInt8, _ shape: [Int], _ payload: [UInt8]) -> [UInt8] {
        var b: [UInt8] = [0, 0, type, UInt8(shape.count)]
        for d in shape { b += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        return b + payload
    }

    func gzip(_ bytes: [UInt8], _ name: String) throws -> URL {
        let dir = temporaryDirectory("msq-idx")
        let raw = dir.appendingPathComponent(name)
        try Data(bytes).write(to: raw)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env"); p.arguments = ["gzip", "-f", raw.path]
        try p.run(); p.waitUntilExit()
        return raw.appendingPathExtension("gz")
    }

    func assertFileError(_ body: @autoclosure () throws -> Any, _ path: String, _ part: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix(path), "\(text) should start with the file", file: file, line: line)
            XCTAssertTrue(text.contains(part), "\(text) should say \(part)", file: file, line: line)
        }
    }

    func testIDXValuesAndErrorsNameTheFile() throws {
        // big-endian values of each type, plain and gzip
        let ok = idx(0x0B, [2, 2], [0x00, 0x01, 0xFF, 0xFF, 0x01, 0x00, 0x80, 0x00])
        let a = try IDX.decode(ok, source: "x")
        XCTAssertEqual(a.shape, [2, 2]); XCTAssertEqual((0..<4).map(a.value), [1, -1, 256, -32768])
        let f = try IDX.decode(idx(0x0D, [1], [0x3F, 0xC0, 0, 0]), source: "x")
        XCTAssertEqual(f.value(0), 1.5)
        let gz = try gzip(idx(0x08, [3], [7, 8, 9]), "small")
        XCTAssertEqual(try IDX.read(gz).payload, [7, 8, 9])
        // errors, each naming the file
        assertFileError(try IDX.decode([1, 0, 8, 1], source: "/d/bad"), "/d/bad", "not an IDX file")
        assertFileError(try IDX.decode([0, 0, 0x42, 1, 0, 0, 0, 1, 5], source: "/d/bad"), "/d/bad", "unknown IDX element type 0x42")
        assertFileError(try IDX.decode(idx(0x08, [4], [1, 2]), source: "/d/bad"), "/d/bad", "truncated: shape [4] needs 4 bytes of data, found 2")
        assertFileError(try IDX.decode(idx(0x08, [1], [1, 2]), source: "/d/bad"), "/d/bad", "1 unexpected bytes")
        assertFileError(try IDX.decode([0, 0, 8, 2, 0, 0], source: "/d/bad"), "/d/bad", "ends inside the sizes")
        assertFileError(try IDX.read(URL(fileURLWithPath: "/nonexistent/x-ubyte.gz")), "/nonexistent/x-ubyte.gz", "no such file")
        // a gzip file cut short, and one with corrupt data
        var data = try Data(contentsOf: gz)
        let cut = gz.deletingLastPathComponent().appendingPathComponent("cut.gz")
        try data.prefix(data.count - 12).write(to: cut)
        assertFileError(try IDX.read(cut), cut.path, "ends early")
        data[data.count - 6] ^= 0xFF   // the CRC-32 of the data
        let bad = gz.deletingLastPathComponent().appendingPathComponent("bad.gz")
        try data.write(to: bad)
        assertFileError(try IDX.read(bad), bad.path, "not valid gzip data")
        // a folder without the files
        assertFileError(try FashionMNIST.load("/nonexistent-fashion"), "/nonexistent-fashion/train-images-idx3-ubyte.gz", "dataset-fashion-mnist")
    }

    func testFashionTasks() throws {
        try requireFashion()
        let ds = try FashionDataset(train: 100, test: 20, tasks: FashionDataset.allTasks, size: 32, noise: 0.2, seed: 1)
        XCTAssertEqual(ds.count(.train), 100); XCTAssertEqual(ds.channels, 1); XCTAssertEqual(ds.imageSize, 32)
        let (x, t) = try ds.batch(.test, [0, 1, 2])
        XCTAssertEqual(x.shape, [3, 1, 32, 32])
        guard case .labels(let cls)? = t["class"], case .labels(let grp)? = t["group"], case .values(let clean)? = t["reconstruct"],
              case .labels(let mask)? = t["mask"], case .values(let edge)? = t["edge"] else { return XCTFail() }
        XCTAssertEqual(cls, [9, 2, 1]); XCTAssertEqual(grp, [2, 0, 1])     // ankle boot → footwear, pullover → tops, trouser → bottoms
        XCTAssertEqual(clean.shape, [3, 1, 32, 32]); XCTAssertEqual(edge.shape, [3, 1, 32, 32]); XCTAssertEqual(mask.count, 3 * 1024)
        // padding is zero; the mask marks exactly the non-zero clean pixels; noise changed the input only
        XCTAssertEqual(clean.data[0], 0); XCTAssertEqual(mask[0], 0)
        for k in 0..<(3 * 1024) { XCTAssertEqual(mask[k], clean.data[k] > 0 ? 1 : 0) }
        var differs = 0
        for k in 0..<x.count where x.data[k] != clean.data[k] { differs += 1 }
        XCTAssertGreaterThan(differs, 1000)
        XCTAssertTrue(x.array.allSatisfy { $0 >= 0 && $0 <= 1 })
        // the same sample gives the same noise
        XCTAssertEqual(try ds.batch(.test, [1]).images.array, Array(x.array[1024..<2048]))
        XCTAssertThrowsError(try FashionDataset(tasks: ["clas"])) { XCTAssertTrue("\($0)".contains("did you mean 'class'")) }
    }

    func testMultiFashionLabelsMatchTheItemOnEachSide() throws {
        try requireFashion()
        let ds = try MultiFashionDataset(train: 50, test: 10, size: 36, seed: 3)
        let src = ds.source
        let (x, t) = try ds.batch(.train, Array(0..<50))
        guard case .labels(let left)? = t["left"], case .labels(let right)? = t["right"], case .labels(let which)? = t["which"] else { return XCTFail() }
        let S = 36, n = S * S
        for i in 0..<50 {
            let p = ds.placement(.train, i)
            XCTAssertNotEqual(p.left, p.right)
            XCTAssertEqual(left[i], Int(src.trainLabels[p.left]), "left label is the class of the item placed on the left")
            XCTAssertEqual(right[i], Int(src.trainLabels[p.right]))
            var sawLeft = 0, sawRight = 0
            for r in 0..<S { for c in 0..<S {
                // the two items' own pixels at this canvas position (0 outside them)
                func item(_ idx: Int, _ top: Int, _ x0: Int) -> Float {
                    let rr = r - top, cc = c - x0
                    return rr >= 0 && rr < 28 && cc >= 0 && cc < 28 ? Float(src.trainImages[idx * 784 + rr * 28 + cc]) / 255 : 0
                }
                let a = item(p.left, p.leftTop, 0), b = item(p.right, p.rightTop, 8), v = x.data[i * n + r * S + c], w = which[i * n + r * S + c]
                XCTAssertEqual(v, max(a, b))
                switch w {
                case 1: XCTAssertEqual(v, a); XCTAssertGreaterThan(a, MultiFashionDataset.threshold); XCTAssertLessThan(c, 28); sawLeft += 1
                case 2: XCTAssertEqual(v, b); XCTAssertGreaterThan(b, MultiFashionDataset.threshold); XCTAssertGreaterThanOrEqual(c, 8); sawRight += 1
                default: XCTAssertLessThanOrEqual(v, MultiFashionDataset.threshold)
                }
            } }
            XCTAssertGreaterThan(sawLeft, 0); XCTAssertGreaterThan(sawRight, 0)
            // the left item sits more to the left: its pixels' mean column is smaller
        }
        // cropping to 32 keeps labels aligned with the image
        let small = try MultiFashionDataset(train: 5, test: 1, size: 32, seed: 3)
        let (xs, ts) = try small.batch(.train, [0])
        guard case .labels(let w32)? = ts["which"] else { return XCTFail() }
        for r in 0..<32 { for c in 0..<32 {
            XCTAssertEqual(xs.data[r * 32 + c], x.data[(r + 2) * 36 + c + 2])
            XCTAssertEqual(w32[r * 32 + c], which[(r + 2) * 36 + c + 2])
        } }
    }
}
