// Reliability of files and messages (issue 16, items 8–12): stale save temporaries, capped gzip inflation, CRLF notebooks, located and truthful errors, the Ctrl-C step count.
import Foundation
import XCTest
import SquadTensor
import SquadNN
import SquadData
import ModSquad
import SquadPluginAPI
import SquadScript

final class ReliabilityIOTests: XCTestCase {
    // MARK: 8. save temporaries left by a killed save

    func testStaleSaveTemporariesAreRemovedByTheNextSaveAndNeverLoaded() throws {
        let (s, _) = makeSession()
        let dir = s.resolve(".")
        exec(s, "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, top_k: 2, head_dim: 8)\nsave(m, \"ck.safetensors\")")
        let full = try Data(contentsOf: dir.appendingPathComponent("ck.safetensors"))
        // a save killed after writing everything, one killed half-way, another target's, and one being written now
        let complete = ".ck.safetensors.tmp-\(UUID().uuidString)", partial = ".ck.safetensors.tmp-\(UUID().uuidString)"
        let other = ".other.safetensors.tmp-\(UUID().uuidString)", live = ".ck.safetensors.tmp-\(UUID().uuidString)"
        try full.write(to: dir.appendingPathComponent(complete))
        try full.prefix(full.count / 2).write(to: dir.appendingPathComponent(partial))
        try full.write(to: dir.appendingPathComponent(other))
        try full.write(to: dir.appendingPathComponent(live))
        let fd = open(dir.appendingPathComponent(live).path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(flock(fd, LOCK_EX), 0)
        defer { close(fd) }

        // load() refuses a temporary, complete or not, saying what it is
        for name in [complete, partial] {
            let e = execError(s, "load(\"\(name)\")")
            XCTAssertTrue(e?.message.contains("temporary file of an unfinished save") ?? false, e?.rendered ?? "")
        }
        exec(s, "save(m, \"ck.safetensors\")")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertFalse(left.contains(complete), "\(left)")
        XCTAssertFalse(left.contains(partial), "\(left)")
        XCTAssertTrue(left.contains(other), "another target's temporary is not this save's to remove: \(left)")
        XCTAssertTrue(left.contains(live), "a temporary still being written (locked) stays: \(left)")
        XCTAssertEqual(left.filter { $0.hasPrefix(".ck.safetensors.tmp-") }, [live])
        exec(s, "m2 = load(\"ck.safetensors\")")

        // train(checkpoint:) saves (and a resumed run's saves) go through the same path
        let stale = ".run-2.safetensors.tmp-\(UUID().uuidString)"
        try full.prefix(100).write(to: dir.appendingPathComponent(stale))
        exec(s, "train(m, data, steps: 2, batch: 4, checkpoint: \"run-{step}.safetensors\", save_every: 2)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(stale).path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run-2.safetensors").path))
    }

    // MARK: 9. gzip IDX inflation capped by the header

    func testGzipIDXInflationStopsAtTheSizeItsHeaderDeclares() throws {
        let dir = temporaryDirectory("msq-idx-cap")
        defer { try? FileManager.default.removeItem(at: dir) }
        // the writer below is right: an honest file reads back
        let honest = dir.appendingPathComponent("ok-ubyte.gz")
        try Data(GzipWriter.gzip(literals: [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])).write(to: honest)
        XCTAssertEqual(try IDX.read(honest).payload, [7, 8, 9])

        // header [100] u8 (108 bytes in all), then 2 MB of zeros, then an invalid deflate block:
        // a reader that inflated everything would report the invalid block, not the size
        var w = GzipWriter.Bits()
        w.put(0, 1); w.put(1, 2)                                  // block: not last, fixed Huffman
        for b in [0, 0, 8, 1, 0, 0, 0, 100, 0] as [UInt8] { w.literal(b) }
        for _ in 0..<(2_000_000 / 258) { w.code(0xC5, 8); w.put(0, 5) }   // length 258 (symbol 285), distance 1
        w.code(0, 7)                                              // end of block
        w.put(1, 1); w.put(3, 2)                                  // last block of the reserved type 11: invalid
        w.flush()
        let liar = dir.appendingPathComponent("liar-ubyte.gz")
        try Data(GzipWriter.wrap(w.bytes, crc: 0, size: 0)).write(to: liar)
        XCTAssertLessThan(try Data(contentsOf: liar).count, 20_000)
        XCTAssertThrowsError(try IDX.read(liar)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix(liar.path), text)
            XCTAssertTrue(text.contains("inflates to more than the 108 bytes its IDX header declares"), text)
            guard let r = text.range(of: #"stopped after (\d+) bytes"#, options: .regularExpression),
                  let n = Int(text[r].split(separator: " ")[2]) else { return XCTFail("no byte count in: \(text)") }
            XCTAssertLessThanOrEqual(n, 109, "inflation went on past the cap")
        }

        // a header claiming far more than the compressed bytes could ever hold is refused at once
        let huge = dir.appendingPathComponent("huge-ubyte.gz")
        try Data(GzipWriter.gzip(literals: [0, 0, 8, 1, 0x3B, 0x9A, 0xCA, 0x00, 1, 2, 3])).write(to: huge)
        XCTAssertThrowsError(try IDX.read(huge)) { XCTAssertTrue("\($0)".contains("IDX header declares 1000000008 bytes, more than"), "\($0)") }
    }

    // MARK: 10. Windows and old Mac line ends

    func testCRLFAndCRNotebooksRunWithErrorsAtTheRightLineAndColumn() throws {
        for eol in ["\r\n", "\r"] {
            let dir = temporaryDirectory("msq-crlf")
            defer { try? FileManager.default.removeItem(at: dir) }
            let nb = dir.appendingPathComponent("win.msq")
            let lines = ["# %% first", "x = 1", "y = [x,", "  x + 1]", "print(y)", "# %% second", "z = x + nope"]
            try Data(lines.joined(separator: eol).appending(eol).utf8).write(to: nb)
            let (s, _) = makeSession()
            let file = SourceFile(name: "win.msq", text: try Notebook.readText(nb))
            XCTAssertEqual(Notebook.cells(file.text).count, 2)
            let results = NotebookRunner(interpreter: s).run(file)
            guard results.count == 2 else { XCTFail("cells: \(results.map(\.cell.firstLine))"); continue }
            XCTAssertNil(results[0].error, results[0].error?.rendered ?? "")
            let printed = results[0].outputs.compactMap { o -> String? in if case .text(let t) = o { return t }; return nil }.joined()
            XCTAssertEqual(printed, "[1, 2]\n")
            let e = results[1].error
            assertError(e, .name, line: 7, column: 9, "unknown name 'nope'")
            XCTAssertFalse(e?.rendered.contains("\r") ?? true)
            XCTAssertTrue(e?.rendered.contains(" 7 | z = x + nope\n") ?? false, e?.rendered ?? "")
            // text run directly (a REPL entry, Interpreter.run) too
            let e2 = execError(s, ["a = 1", "b = (a +", "  oops)"].joined(separator: eol))
            assertError(e2, .name, line: 3, column: 3, "unknown name 'oops'")
        }
    }

    // MARK: 11. messages that say what is wrong

    func testNonUTF8NotebookErrorGivesTheByteOffsetAndLine() throws {
        let dir = temporaryDirectory("msq-latin1")
        defer { try? FileManager.default.removeItem(at: dir) }
        let nb = dir.appendingPathComponent("latin1.msq")
        try Data([UInt8]("x = 1\n# caf".utf8) + [0xE9] + [UInt8]("\nprint(x)\n".utf8)).write(to: nb)
        XCTAssertThrowsError(try Notebook.readText(nb)) { e in
            let m = (e as? ScriptError)?.message ?? "\(e)"
            XCTAssertTrue(m.contains(nb.path), m)
            XCTAssertTrue(m.contains("not UTF-8"), m)
            XCTAssertTrue(m.contains("byte 0xE9 at byte offset 11 (line 2)"), m)
        }
        XCTAssertThrowsError(try Notebook.readText(dir)) { XCTAssertTrue("\($0)".contains("is a directory"), "\($0)") }
        XCTAssertThrowsError(try Notebook.readText(dir.appendingPathComponent("none.msq"))) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
        // a UTF-8 byte-order mark is not part of the text
        try Data([0xEF, 0xBB, 0xBF] + [UInt8]("x = 1\n".utf8)).write(to: nb)
        XCTAssertEqual(try Notebook.readText(nb), "x = 1\n")
    }

    func testLoadOfADirectoryOrFIFOSaysWhatItIs() throws {
        let (s, _) = makeSession()
        let dir = s.resolve(".")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("adir.safetensors"), withIntermediateDirectories: true)
        let e = execError(s, "load(\"adir.safetensors\")")
        XCTAssertTrue(e?.message.contains("is a directory") ?? false, e?.rendered ?? "")
        XCTAssertFalse(e?.message.contains("permission") ?? true, e?.rendered ?? "")
        let fifo = dir.appendingPathComponent("pipe.safetensors").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let f = execError(s, "load(\"pipe.safetensors\")")
        XCTAssertTrue(f?.message.contains("is not a regular file (a FIFO)") ?? false, f?.rendered ?? "")
        XCTAssertThrowsError(try IDX.read(URL(fileURLWithPath: fifo))) { XCTAssertTrue("\($0)".contains("FIFO"), "\($0)") }
        XCTAssertThrowsError(try PNG.readBytes(dir)) { XCTAssertTrue("\($0)".contains("is a directory"), "\($0)") }
    }

    func testMalformedPNGsSayWhatIsWrongNotOutOfMemory() throws {
        let dir = temporaryDirectory("msq-png")
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.png")
        try PNG.write(Tensor(repeating: 0.5, shape: [3, 4, 4]), to: good)
        let png = [UInt8](try Data(contentsOf: good))
        XCTAssertEqual(try PNG.readBytes(good).width, 4)
        /// The PNG with IHDR bytes 16..<29 changed by `edit` and its CRC made right again.
        func variant(_ name: String, fixCRC: Bool = true, _ edit: (inout [UInt8]) -> Void) throws -> URL {
            var b = png
            edit(&b)
            if fixCRC {
                let c = GzipWriter.crc32(Array(b[12..<29]))
                for k in 0..<4 { b[29 + k] = UInt8((c >> (24 - 8 * UInt32(k))) & 0xFF) }
            }
            let u = dir.appendingPathComponent(name)
            try Data(b).write(to: u)
            return u
        }
        func be(_ v: UInt32, _ b: inout [UInt8], _ at: Int) { for k in 0..<4 { b[at + k] = UInt8((v >> (24 - 8 * UInt32(k))) & 0xFF) } }
        let cases: [(URL, String)] = [
            (try variant("w0.png") { be(0, &$0, 16) }, "the image is 0×4; width and height must be at least 1"),
            (try variant("depth.png") { $0[24] = 3 }, "bit depth 3 is not allowed for colour type"),
            (try variant("colour.png") { $0[25] = 5 }, "unknown colour type 5"),
            (try variant("interlace.png") { $0[28] = 7 }, "unknown interlace method 7"),
            (try variant("wide.png") { be(40000, &$0, 16) }, "larger than this reader takes"),
            (try variant("liar.png") { be(8000, &$0, 16); be(8000, &$0, 20) }, "but the file has only"),
            (try variant("crc.png", fixCRC: false) { $0[17] ^= 1 }, "its CRC does not match"),
            (try variant("sig.png", fixCRC: false) { $0[1] = 0x51 }, "does not start with the PNG signature"),
            (try variant("idat.png") { b in for k in (b.count - 30)..<(b.count - 14) { b[k] ^= 0x5A } }, "not a readable PNG"),
        ]
        for (u, want) in cases {
            XCTAssertThrowsError(try PNG.readBytes(u), u.lastPathComponent) { e in
                let text = "\(e)"
                XCTAssertTrue(text.hasPrefix(u.path), text)
                XCTAssertTrue(text.contains(want), "\(u.lastPathComponent): \(text)")
                XCTAssertFalse(text.contains("out of memory"), text)
            }
        }
    }

    func testErrorsOnAVeryLongLineShowAWindowAroundTheCaret() throws {
        let (s, _) = makeSession()
        let long = String(repeating: "a", count: 200_000)
        let e = execError(s, "x = \"\(long)\" + nope + 1")
        assertError(e, .name, line: 1, column: 200_010, "unknown name 'nope'")
        let r = e?.rendered ?? ""
        XCTAssertLessThan(r.count, 600, "the report is \(r.count) characters")
        let lines = r.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0) }
        guard lines.count >= 3 else { return XCTFail(r) }
        let src = lines[1], caret = lines[2]
        XCTAssertTrue(String(src).hasPrefix(" 1 | …"), String(src))
        XCTAssertFalse(String(src).hasSuffix("…"), "the line's end is within 80 columns: \(String(src))")
        let at = caret.firstIndex(of: "^") ?? 0
        XCTAssertEqual(String(src[at..<min(src.count, at + 4)]), "nope", "the caret points at the name:\n\(r)")
        XCTAssertEqual(caret.filter { $0 == "^" }.count, 4)
        XCTAssertEqual(src.count - " 1 | ".count, 1 + 80 + 4 + 4, "80 columns before the span, up to 80 after:\n\(r)")
        // the middle of a long line: cut on both sides
        let mid = ScriptError(.value, "here", at: SourceLocation(file: SourceFile(name: "m", text: long), line: 1, column: 100_000, length: 3))
        let ml = mid.rendered.split(separator: "\n").map(String.init)
        XCTAssertEqual(ml[1], " 1 | …" + String(repeating: "a", count: 80 + 3 + 80) + "…")
        XCTAssertEqual(ml[2], "   |  " + String(repeating: " ", count: 80) + "^^^")
        // short lines print as before
        let short = ScriptError(.value, "here", at: SourceLocation(file: SourceFile(name: "m", text: "ab\tcd"), line: 1, column: 4, length: 2))
        XCTAssertEqual(short.rendered, "m:1:4: value error: here\n 1 | ab\tcd\n   |   \t^^")
    }

    func testNumberLiteralsThatOverflowAreRejectedWhereTheyAre() throws {
        let (s, _) = makeSession()
        assertError(execError(s, "x = 1e999"), .syntax, line: 1, column: 5, "number 1e999 is too large")
        assertError(execError(s, "y = 2\nz = [1, 18_000e305]"), .syntax, line: 2, column: 9, "number 18000e305 is too large")
        exec(s, "w = 1.7e308\nv = 1e-999")   // the largest finite number, and underflow to 0, are fine
    }

    // MARK: 12. the Ctrl-C message counts the steps of the call

    func testCtrlCMessageCountsStepsOfTheWholeCall() throws {
        let reg = PluginRegistry()
        try reg.register(task: ToyTask("tseg", .dense, 2, .crossEntropy))
        try reg.register(task: ToyTask("tmap", .dense, 1, .l1))
        try reg.register(task: ToyTask("tcls", .global, 2, .crossEntropy))
        try reg.register(dataset: InterruptingDatasetPlugin(atTrainBatch: 4))
        let out = TestOutput()
        let s = Interpreter(output: out, table: BuiltinTable(core: true, registry: reg), directory: temporaryDirectory("msq-ctrlc"))
        ScriptInterrupt.clear()
        defer { ScriptInterrupt.clear() }
        exec(s, "data = ctrlc()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, top_k: 2, head_dim: 8)")
        // chunks of 2 steps (save_every): the message used to count within the chunk ("2 of 2")
        let e = execError(s, "train(m, data, steps: 6, batch: 4, checkpoint: \"c-{step}.safetensors\", save_every: 2)")
        XCTAssertEqual(e?.kind, .interrupted)
        let m = e?.message ?? ""
        guard let r = m.range(of: #"stopped after step (\d+) \((\d+) of (\d+) in this call\)"#, options: .regularExpression) else {
            return XCTFail(m)
        }
        let nums = m[r].split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        XCTAssertEqual(nums.count, 3, m)
        XCTAssertEqual(nums[2], 6, "counts against the call's 6 steps: \(m)")
        XCTAssertEqual(nums[1], nums[0], "the model started at step 0, so the call's count is the step: \(m)")
        XCTAssertGreaterThan(nums[1], 2, "stopped after the first chunk: \(m)")
    }
}

/// The toy dataset, requesting a Ctrl-C when its `atTrainBatch`-th training batch is read.
final class InterruptingDatasetPlugin: DatasetPlugin {
    let name = "ctrlc", summary = "toy images that press Ctrl-C during training"
    let parameters: [ParameterInfo] = []
    let at: Int
    init(atTrainBatch: Int) { at = atTrainBatch }
    final class Source: MultiTaskDataset {
        let base = ToyDataset(size: 8, train: 64, test: 16, tasks: ["tseg", "tmap", "tcls"])
        let at: Int
        var trainBatches = 0
        init(at: Int) { self.at = at }
        var name: String { "ctrlc" }
        var summary: String { base.summary }
        var imageSize: Int { base.imageSize }
        var channels: Int { base.channels }
        var taskNames: [String] { base.taskNames }
        func count(_ split: DataSplit) -> Int { base.count(split) }
        func batch(_ split: DataSplit, _ indices: [Int]) throws -> (images: Tensor, targets: [String: TaskTarget]) {
            if split == .train { trainBatches += 1; if trainBatches == at { _ = ScriptInterrupt.request() } }
            return try base.batch(split, indices)
        }
    }
    func make(_ args: PluginArguments) throws -> MultiTaskDataset { Source(at: at) }
}

/// Hand-made gzip: fixed-Huffman deflate blocks written bit by bit, and CRC-32.
enum GzipWriter {
    struct Bits {
        var bytes: [UInt8] = []
        var acc: UInt32 = 0, n: UInt32 = 0
        /// `count` bits of `value`, least significant first (block headers, extra bits).
        mutating func put(_ value: UInt32, _ count: UInt32) {
            for k in 0..<count {
                acc |= ((value >> k) & 1) << n; n += 1
                if n == 8 { bytes.append(UInt8(acc)); acc = 0; n = 0 }
            }
        }
        /// A Huffman code, most significant bit first.
        mutating func code(_ value: UInt32, _ count: UInt32) {
            for k in stride(from: Int(count) - 1, through: 0, by: -1) { put((value >> UInt32(k)) & 1, 1) }
        }
        /// A literal byte of the fixed code.
        mutating func literal(_ b: UInt8) { b < 144 ? code(0x30 + UInt32(b), 8) : code(0x190 + UInt32(b) - 144, 9) }
        mutating func flush() { if n > 0 { bytes.append(UInt8(acc)); acc = 0; n = 0 } }
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    /// A gzip member around raw deflate bytes.
    static func wrap(_ deflate: [UInt8], crc: UInt32, size: UInt32) -> [UInt8] {
        var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF] + deflate
        for v in [crc, size] { for k in 0..<4 { out.append(UInt8((v >> (8 * UInt32(k))) & 0xFF)) } }
        return out
    }

    /// A valid gzip file of `data`, as literals in one fixed-Huffman block.
    static func gzip(literals data: [UInt8]) -> [UInt8] {
        var w = Bits()
        w.put(1, 1); w.put(1, 2)
        for b in data { w.literal(b) }
        w.code(0, 7)
        w.flush()
        return wrap(w.bytes, crc: crc32(data), size: UInt32(data.count))
    }
}
