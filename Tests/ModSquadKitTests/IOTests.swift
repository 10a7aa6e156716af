// Tests of the safetensors and .npy readers and writers: round trips, Python-written fixtures, Python reading our files, corrupt input.
import Foundation
import XCTest
import SquadTensor
import SquadNN

final class IOTests: XCTestCase {

    // MARK: helpers

    /// A tensor of `shape` filled by `f(flat index)`.
    func make(_ shape: [Int], _ f: (Int) -> Float) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = f(i) }
        return t
    }

    /// Same shape and bit-identical values (any NaN matches any NaN).
    func assertExact(_ t: Tensor?, _ shape: [Int], _ values: [Float], _ what: String = "",
                     file: StaticString = #filePath, line: UInt = #line) {
        guard let t else { XCTFail("\(what): missing tensor", file: file, line: line); return }
        XCTAssertEqual(t.shape, shape, "\(what) shape", file: file, line: line)
        XCTAssertEqual(t.count, values.count, "\(what) count", file: file, line: line)
        guard t.count == values.count else { return }
        for i in 0..<t.count {
            let a = t.data[i], b = values[i]
            if !(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)) {
                XCTFail("\(what) index \(i): \(a) vs \(b)", file: file, line: line)
                return
            }
        }
    }

    func assertExact(_ t: Tensor?, _ shape: [Int], _ f: (Int) -> Float, _ what: String = "",
                     file: StaticString = #filePath, line: UInt = #line) {
        assertExact(t, shape, (0..<shape.reduce(1, *)).map(f), what, file: file, line: line)
    }

    /// `body` throws TensorError.io for `source` with a message containing every part.
    func assertIOError<T>(_ body: @autoclosure () throws -> T, _ parts: [String], source: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("expected an error containing \(parts)", file: file, line: line)
        } catch let TensorError.io(path, message) {
            XCTAssertEqual(path, source, file: file, line: line)
            for p in parts where !message.contains(p) {
                XCTFail("message \"\(message)\" lacks \"\(p)\"", file: file, line: line)
            }
        } catch {
            XCTFail("expected TensorError.io, got \(error)", file: file, line: line)
        }
    }

    /// A safetensors file from raw header bytes, an explicit length field and a buffer.
    func stFile(headerBytes: [UInt8], length: UInt64? = nil, buffer: [UInt8]) -> Data {
        let n = length ?? UInt64(headerBytes.count)
        var d = Data((0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) })
        d.append(contentsOf: headerBytes)
        d.append(contentsOf: buffer)
        return d
    }

    /// A safetensors file from header JSON text and `buffer` zero bytes.
    func stFile(_ header: String, buffer: Int) -> Data {
        stFile(headerBytes: Array(header.utf8), buffer: [UInt8](repeating: 0, count: buffer))
    }

    /// An .npy file from a header text (padded like numpy), data bytes and a version.
    func npyFile(_ header: String, data: [UInt8], major: UInt8 = 1) -> Data {
        var h = Array(header.utf8)
        let prefix = major == 1 ? 10 : 12
        h += [UInt8](repeating: 0x20, count: 63 - (prefix + h.count) % 64)
        h.append(0x0A)
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0])
        let n = UInt32(h.count)
        d.append(contentsOf: (0..<(major == 1 ? 2 : 4)).map { UInt8((n >> (8 * UInt32($0))) & 0xFF) })
        d.append(contentsOf: h)
        d.append(contentsOf: data)
        return d
    }

    func npyHeader(descr: String = "'<f4'", fortran: String = "False", shape: String = "(3,)") -> String {
        "{'descr': \(descr), 'fortran_order': \(fortran), 'shape': \(shape), }"
    }

    static let specials: [Float] = [0, -0.0, .infinity, -.infinity, .nan, Float(bitPattern: 1), .greatestFiniteMagnitude, -1.5]

    // MARK: 1. round trips

    func testNpyRoundTrip() throws {
        let dir = temporaryDirectory("io")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(Tensor, [Int])] = [
            (make([2, 3, 4]) { Float($0) / 7 - 1 }, [2, 3, 4]),
            (try Tensor(IOTests.specials, shape: [8]), [8]),
            (Tensor(zeros: [0, 3]), [0, 3]),
            (make([3, 0, 2]) { _ in 1 }, [3, 0, 2]),
            // A 0-d tensor is written with shape () and reads back as [1], the engine's scalar shape.
            (make([]) { _ in 2.25 }, [1]),
        ]
        for (k, (t, readShape)) in cases.enumerated() {
            let url = dir.appendingPathComponent("t\(k).npy")
            try NPY.write(t, to: url)
            assertExact(try NPY.read(url), readShape, t.array, "case \(k)")
            assertExact(try NPY.decode(NPY.encode(t), source: "mem"), readShape, t.array, "case \(k) in memory")
        }
        // Header layout: v1.0, '<f4', C order, total header a multiple of 64, ends in a newline.
        let bytes = [UInt8](NPY.encode(make([2, 3]) { Float($0) }))
        XCTAssertEqual(Array(bytes[0..<8]), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let hlen = Int(bytes[8]) | Int(bytes[9]) << 8
        XCTAssertEqual((10 + hlen) % 64, 0)
        XCTAssertEqual(bytes[10 + hlen - 1], 0x0A)
        let header = String(decoding: bytes[10..<(10 + hlen)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), header)
        XCTAssertEqual(bytes.count, 10 + hlen + 24)
        XCTAssertTrue(String(decoding: NPY.encode(make([5]) { _ in 0 }), as: UTF8.self).contains("'shape': (5,)"))
    }

    func testSafeTensorsRoundTrip() throws {
        let dir = temporaryDirectory("io")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tensors: [String: Tensor] = [
            "blocks.0.attn.qkv.weight": make([6, 4]) { Float($0) / 7 - 3 },
            "blocks.0.attn.qkv.bias": make([6]) { Float($0) * 0.5 },
            "Zeta": try Tensor(IOTests.specials, shape: [2, 4]),
            "empty": Tensor(zeros: [0, 4]),
            "näme with \"quotes\" and \\": make([3]) { Float(-$0) },
            "scalar": make([]) { _ in 9 },
        ]
        let metadata = ["format": "pt", "note": "ü \"quoted\" \\ back\nslash\ttab \u{01}", "": "empty key"]
        let url = dir.appendingPathComponent("model.safetensors")
        try SafeTensors.write(tensors, metadata: metadata, to: url)
        let (back, meta) = try SafeTensors.read(url)
        XCTAssertEqual(meta, metadata)
        XCTAssertEqual(Set(back.keys), Set(tensors.keys))
        for (name, t) in tensors {
            // 0-d tensors read back with shape [1].
            assertExact(back[name], t.shape.isEmpty ? [1] : t.shape, t.array, name)
        }
        // Overwrite in place; no temporary files are left behind.
        try SafeTensors.write(["x": make([2]) { Float($0) }], to: url)
        let (again, meta2) = try SafeTensors.read(url)
        XCTAssertEqual(meta2, [:])
        assertExact(again["x"], [2], [0, 1])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["model.safetensors"])
        // No tensors at all is a valid file.
        let (none, noMeta) = try SafeTensors.decode(SafeTensors.encode([:], metadata: [:]), source: "mem")
        XCTAssertTrue(none.isEmpty && noMeta.isEmpty)

        // Header: 8-byte aligned, space padded, names sorted bytewise and laid out in that order.
        let bytes = [UInt8](try SafeTensors.encode(["b": make([1]) { _ in 1 }, "a": make([3]) { _ in 2 }, "B": make([2]) { _ in 3 }],
                                                    metadata: ["k": "v"]))
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        XCTAssertEqual(n % 8, 0)
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces),
                       #"{"__metadata__":{"k":"v"},"B":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[3],"data_offsets":[8,20]},"b":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}}"#)
        XCTAssertTrue(header.hasSuffix(" ") || header.hasSuffix("}"))
        XCTAssertEqual(bytes.count, 8 + n + 24)

        assertIOError(try SafeTensors.encode(["__metadata__": make([1]) { _ in 0 }], metadata: [:]), ["reserved"], source: "<safetensors>")
        assertIOError(try SafeTensors.write(["__metadata__": make([1]) { _ in 0 }], to: url), ["reserved"], source: url.path)
    }

    func testWriteAndReadFailuresAreIOErrors() {
        let missing = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/x.npy")
        assertIOError(try NPY.write(make([2]) { _ in 0 }, to: missing), ["cannot create"], source: missing.path)
        assertIOError(try SafeTensors.write([:], to: missing), ["cannot create"], source: missing.path)
        assertIOError(try NPY.read(missing), ["cannot read", "no such file"], source: missing.path)
        assertIOError(try SafeTensors.read(missing), ["cannot read", "no such file"], source: missing.path)
    }

    // MARK: 2. files written by Python (Tests/Fixtures/make_io_fixtures.py)

    func testPythonWrittenSafeTensors() throws {
        let (t, meta) = try SafeTensors.read(Fixtures.url("io/mixed.safetensors"))
        XCTAssertEqual(meta, ["format": "pt", "note": "ModSquad fixture ü \"quoted\""])
        XCTAssertEqual(Set(t.keys), ["blocks.0.w", "blocks.0.b", "f64", "half", "i64", "i32", "empty"])
        assertExact(t["blocks.0.w"], [4, 5], { Float($0) / 7 }, "F32")
        assertExact(t["blocks.0.b"], [5], { 1 - Float($0) * 0.25 }, "F32 vector")
        assertExact(t["f64"], [2, 3], { Float(Double($0) / 3 - 1) }, "F64")
        assertExact(t["half"], [12], [0, -0.0, 1, -2.5, 65504, 0x1p-24, 0x1p-14, .infinity, -.infinity,
                                      0.333251953125, .nan, -0.0010004043579101562], "F16")
        assertExact(t["i64"], [3, 4], { Float(($0 - 5) * 1000) }, "I64")
        assertExact(t["i32"], [6], { Float($0 - 3) }, "I32")
        assertExact(t["empty"], [0, 3], [], "empty")

        let (bf, bfMeta) = try SafeTensors.read(Fixtures.url("io/bf16.safetensors"))
        XCTAssertEqual(bfMeta, ["kind": "bf16"])
        let bfValues: [Float] = (0..<12).map { Float($0 - 6) / 4 } + [0x1p100, 0x1p-130, -0.0, .infinity]
        assertExact(bf["bf"], [4, 4], bfValues, "BF16")
    }

    func testPythonWrittenNpy() throws {
        func read(_ name: String) throws -> Tensor { try NPY.read(Fixtures.url("io/\(name)")) }
        assertExact(try read("f4.npy"), [2, 3, 4], { Float($0) / 7 }, "f4")
        assertExact(try read("f8.npy"), [3, 2], { Float(Double($0) / 3 - 1) }, "f8")
        assertExact(try read("i8.npy"), [4, 3], { Float(($0 - 3) * 1000) }, "i8")
        assertExact(try read("i4.npy"), [5], { Float($0 - 2) }, "i4")
        assertExact(try read("bool.npy"), [2, 3], { $0 % 3 == 0 ? 1 : 0 }, "bool")
        assertExact(try read("u1.npy"), [6], { Float($0 * 51) }, "u1")
        assertExact(try read("be_f4.npy"), [6], { Float($0) / 7 }, "big-endian f4")
        assertExact(try read("scalar.npy"), [1], [3.5], "0-d")
        assertExact(try read("empty.npy"), [0, 4], [], "empty")
        let fortran = Fixtures.url("io/fortran.npy")
        assertIOError(try NPY.read(fortran), ["Fortran-order", "np.ascontiguousarray"], source: fortran.path)
    }

    // MARK: 3. Python reads what Swift writes

    /// Fails (never skips) when python3, numpy or safetensors is missing.
    func requirePython(file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let hint = "this test needs python3 with numpy and safetensors: pip install numpy safetensors"
        do {
            let r = try runPython("import numpy, safetensors.numpy")
            if r.status != 0 {
                XCTFail("\(hint)\n\(r.output)", file: file, line: line)
                return false
            }
        } catch {
            XCTFail("cannot run python3 (\(error)); \(hint)", file: file, line: line)
            return false
        }
        return true
    }

    func testPythonReadsSwiftFiles() throws {
        guard requirePython() else { return }
        let dir = temporaryDirectory("io")
        defer { try? FileManager.default.removeItem(at: dir) }
        try SafeTensors.write([
            "blocks.0.w": make([4, 5]) { Float($0) / 7 },
            "bias": make([5]) { 1 - Float($0) * 0.25 },
            "special": try Tensor(IOTests.specials, shape: [8]),
            "empty": Tensor(zeros: [0, 3]),
        ], metadata: ["format": "pt"], to: dir.appendingPathComponent("one.safetensors"))
        try SafeTensors.write(["x": make([2, 2]) { Float($0) }],
                              metadata: ["format": "pt", "note": "ü \"q\" \\ \n", "step": "12"],
                              to: dir.appendingPathComponent("meta.safetensors"))
        try NPY.write(make([2, 3, 4]) { Float($0) / 7 }, to: dir.appendingPathComponent("a.npy"))
        try NPY.write(try Tensor(IOTests.specials, shape: [8]), to: dir.appendingPathComponent("special.npy"))
        try NPY.write(Tensor(zeros: [0, 3]), to: dir.appendingPathComponent("empty.npy"))
        try NPY.write(make([]) { _ in 2.5 }, to: dir.appendingPathComponent("scalar.npy"))

        let script = #"""
import io, os, sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save
d = sys.argv[1]
special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4028234663852886e38, -1.5], dtype=np.float32)

def same(a, b, what):
    assert a.dtype == b.dtype and a.shape == b.shape, f"{what}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), f"{what}: {a} vs {b}"

p = os.path.join(d, "one.safetensors")
t = load_file(p)
assert sorted(t) == ["bias", "blocks.0.w", "empty", "special"], sorted(t)
same(t["blocks.0.w"], np.arange(20, dtype=np.float32).reshape(4, 5) / np.float32(7), "blocks.0.w")
same(t["bias"], np.float32(1) - np.arange(5, dtype=np.float32) * np.float32(0.25), "bias")
same(t["special"], special, "special")
same(t["empty"], np.zeros((0, 3), np.float32), "empty")
with safe_open(p, "numpy") as f:
    assert f.metadata() == {"format": "pt"}, f.metadata()
raw = open(p, "rb").read()
assert save(t, metadata={"format": "pt"}) == raw, "safetensors bytes differ from the Python library's"

with safe_open(os.path.join(d, "meta.safetensors"), "numpy") as f:
    assert f.metadata() == {"format": "pt", "note": "\u00fc \"q\" \\ \n", "step": "12"}, f.metadata()
    same(f.get_tensor("x"), np.arange(4, dtype=np.float32).reshape(2, 2), "x")

def npy(name, expected):
    p = os.path.join(d, name)
    a = np.load(p)
    same(a, expected, name)
    buf = io.BytesIO()
    np.save(buf, a)
    assert buf.getvalue() == open(p, "rb").read(), f"{name}: bytes differ from np.save's"

npy("a.npy", np.arange(24, dtype=np.float32).reshape(2, 3, 4) / np.float32(7))
npy("special.npy", special)
npy("empty.npy", np.zeros((0, 3), np.float32))
npy("scalar.npy", np.array(2.5, np.float32))
print("OK")
"""#
        let r = try runPython(script, args: [dir.path])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("OK"), r.output)
    }

    // MARK: 4. corrupt input

    func testCorruptSafeTensors() {
        let s = "t.safetensors"
        func check(_ d: Data, _ parts: String..., file: StaticString = #filePath, line: UInt = #line) {
            assertIOError(try SafeTensors.decode(d, source: s), parts, source: s, file: file, line: line)
        }
        func w(_ entry: String) -> String { #"{"w":"# + entry + "}" }
        let ok = #"{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#

        check(Data([1, 2, 3]), "3 bytes", "too short")
        check(stFile(headerBytes: Array("{}".utf8), length: 200_000_000, buffer: []), "200000000", "100000000-byte limit")
        check(stFile(headerBytes: Array("{}".utf8), length: 1000, buffer: [0, 0]), "header length 1000", "exceeds the file size")
        check(stFile(headerBytes: [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D], buffer: []), "not valid UTF-8")
        check(stFile(#"{"w": "#, buffer: 0), "not valid JSON")
        check(stFile(#"{"w": 1} trailing"#, buffer: 0), "not valid JSON")
        check(stFile("[1, 2]", buffer: 0), "does not start with '{'")
        check(stFile("", buffer: 0), "does not start with '{'")
        check(stFile(w("5"), buffer: 0), "tensor 'w'", "is a number", "expected an object")
        check(stFile(w(#"{"shape":[2],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", #"missing "dtype""#)
        check(stFile(w(#"{"dtype":5,"shape":[2],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", #""dtype" is a number"#)
        check(stFile(w(#"{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", "unsupported dtype 'Q7'")
        check(stFile(w(#"{"dtype":"F32","data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", #"missing "shape""#)
        check(stFile(w(#"{"dtype":"F32","shape":"2","data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", #""shape" is a string"#)
        check(stFile(w(#"{"dtype":"F32","shape":{"a":1},"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", #""shape" is an object"#)
        check(stFile(w(#"{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", "shape entry -2 is negative")
        check(stFile(w(#"{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", "shape entry 2.5 is not an integer")
        check(stFile(w(#"{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", "is not an integer")
        check(stFile(w(#"{"dtype":"F32","shape":[1e30],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", "is not an integer")
        check(stFile(w(#"{"dtype":"F32","shape":[true],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", "shape entry true is not an integer")
        check(stFile(w(#"{"dtype":"F32","shape":[null],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", "shape entry null is not an integer")
        check(stFile(w(#"{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", #"shape entry "2" is not an integer"#)
        check(stFile(w(#"{"dtype":"F32","shape":[2]}"#), buffer: 8), "tensor 'w'", #"missing "data_offsets""#)
        check(stFile(w(#"{"dtype":"F32","shape":[2],"data_offsets":8}"#), buffer: 8), "tensor 'w'", #""data_offsets" is a number"#)
        check(stFile(w(#"{"dtype":"F32","shape":[2],"data_offsets":[0]}"#), buffer: 8), "tensor 'w'", "has 1 entries")
        check(stFile(w(#"{"dtype":"F32","shape":[2],"data_offsets":[0,8,16]}"#), buffer: 16), "tensor 'w'", "has 3 entries")
        check(stFile(w(#"{"dtype":"F32","shape":[2],"data_offsets":["0",8]}"#), buffer: 8), "tensor 'w'", #"data_offsets entry "0" is not an integer"#)
        check(stFile(w(#"{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}"#), buffer: 8), "tensor 'w'", "not an integer")
        check(stFile(w(#"{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}"#), buffer: 8), "tensor 'w'", "data_offsets entry -8 is negative")
        check(stFile(w(#"{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}"#), buffer: 8), "tensor 'w'", "not an integer")
        // shape × dtype size ≠ end − begin
        check(stFile(#"{"blocks.0.w":{"dtype":"F32","shape":[4,5],"data_offsets":[0,64]}}"#, buffer: 64),
              "tensor 'blocks.0.w': data_offsets [0, 64] do not match shape [4, 5] of F32 (80 bytes)")
        check(stFile(w(#"{"dtype":"I64","shape":[3],"data_offsets":[0,12]}"#), buffer: 12), "tensor 'w'", "shape [3] of I64 (24 bytes)")
        check(stFile(w(#"{"dtype":"BF16","shape":[3],"data_offsets":[0,12]}"#), buffer: 12), "tensor 'w'", "shape [3] of BF16 (6 bytes)")
        check(stFile(w(#"{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}"#), buffer: 8), "tensor 'w'", "too large")
        // offsets
        check(stFile(w(#"{"dtype":"F32","shape":[20],"data_offsets":[0,80]}"#), buffer: 64), "tensor 'w'", "[0, 80] run past the end of the 64-byte data buffer")
        check(stFile(w(#"{"dtype":"F32","shape":[2],"data_offsets":[8,0]}"#), buffer: 8), "tensor 'w'", "[8, 0] begin after they end")
        check(stFile(#"{"a":{"dtype":"F32","shape":[10],"data_offsets":[0,40]},"b":{"dtype":"F32","shape":[10],"data_offsets":[20,60]}}"#, buffer: 60),
              "tensor 'b'", "[20, 60] overlap tensor 'a' [0, 40]")
        check(stFile(#"{"a":{"dtype":"F32","shape":[10],"data_offsets":[0,40]},"b":{"dtype":"F32","shape":[10],"data_offsets":[0,40]}}"#, buffer: 40),
              "overlap tensor")
        check(stFile(#"{"a":{"dtype":"F32","shape":[10],"data_offsets":[0,40]},"b":{"dtype":"F32","shape":[10],"data_offsets":[48,88]}}"#, buffer: 88),
              "tensor 'b'", "leave bytes [40, 48) of the data buffer uncovered")
        check(stFile(#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, buffer: 16), "tensor 'b'", "leave bytes [0, 8)")
        check(stFile(#"{"a":{"dtype":"F32","shape":[10],"data_offsets":[0,40]}}"#, buffer: 48), "data buffer is 48 bytes", "cover only 40")
        check(stFile("{}", buffer: 4), "data buffer is 4 bytes", "cover only 0")
        // metadata
        check(stFile(#"{"__metadata__":{"k":1},"w":"# + ok + "}", buffer: 8), "__metadata__ value for key 'k' is a number", "expected a string")
        check(stFile(#"{"__metadata__":{"k":["v"]},"w":"# + ok + "}", buffer: 8), "key 'k' is an array")
        check(stFile(#"{"__metadata__":"pt","w":"# + ok + "}", buffer: 8), "__metadata__ is a string", "expected an object")

        // The well-formed variants of the above decode.
        XCTAssertNoThrow(try SafeTensors.decode(stFile(w(ok), buffer: 8), source: s))
        XCTAssertNoThrow(try SafeTensors.decode(stFile(#"{"__metadata__":null,"w":"# + ok + "}", buffer: 8), source: s))
        XCTAssertNoThrow(try SafeTensors.decode(stFile(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}   "#, buffer: 8), source: s))
        let zeroSized = #"{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"w":"# + ok + "}"
        XCTAssertNoThrow(try SafeTensors.decode(stFile(zeroSized, buffer: 8), source: s))
    }

    func testCorruptNpy() throws {
        let s = "t.npy"
        func check(_ d: Data, _ parts: String..., file: StaticString = #filePath, line: UInt = #line) {
            assertIOError(try NPY.decode(d, source: s), parts, source: s, file: file, line: line)
        }
        let twelve = [UInt8](repeating: 0, count: 12)
        XCTAssertNoThrow(try NPY.decode(npyFile(npyHeader(), data: twelve), source: s))
        XCTAssertNoThrow(try NPY.decode(npyFile(npyHeader(), data: twelve, major: 2), source: s))
        XCTAssertNoThrow(try NPY.decode(npyFile(npyHeader(), data: twelve, major: 3), source: s))
        XCTAssertNoThrow(try NPY.decode(npyFile(npyHeader(shape: "(3L,)"), data: twelve), source: s))

        let valid = [UInt8](npyFile(npyHeader(), data: twelve))
        check(Data("PK\u{03}\u{04} not numpy at all".utf8), "bad magic")
        check(Data(), "truncated", "0 bytes")
        check(Data(valid[0..<8]), "truncated", "8 bytes")
        check(npyFile(npyHeader(), data: twelve, major: 4), "unsupported .npy format version 4.0")
        var badMinor = valid; badMinor[7] = 1
        check(Data(badMinor), "unsupported .npy format version 1.1")
        check(Data(valid[0..<50]), "truncated", "header length 118", "only 40 bytes")
        // header dict
        check(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), ", data: twelve), "bad header", "unterminated dict")
        check(npyFile("{'descr': '<f4' 'fortran_order': False}", data: twelve), "bad header", "expected ',' or '}'")
        check(npyFile("[1, 2]", data: twelve), "bad header", "expected a dict, found a list")
        check(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x", data: twelve), "bad header", "after the header value")
        check(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}", data: twelve), "unexpected key 'extra'")
        check(npyFile("{'descr': '<f4', 'fortran_order': False}", data: twelve), "missing key 'shape'")
        check(npyFile("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", data: twelve), "duplicate key 'descr'")
        check(npyFile("{1: '<f4', 'fortran_order': False, 'shape': (3,)}", data: twelve), "dict key is an integer")
        check(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (3,) 'x'}", data: twelve), "bad header")
        check(npyFile("{'descr': '<f4, 'fortran_order': False, 'shape': (3,)}", data: twelve), "bad header")
        check(npyFile("{'descr': @}", data: twelve), "bad header", "unexpected '@'")
        check(npyFile(String(repeating: "(", count: 100), data: twelve), "bad header", "nested too deeply")
        check(npyFile(npyHeader(descr: "5"), data: twelve), "'descr' is an integer")
        check(npyFile(npyHeader(descr: "'<c8'"), data: twelve), "unsupported dtype '<c8'")
        check(npyFile(npyHeader(descr: "'|f4'"), data: twelve), "unsupported dtype '|f4'")
        check(npyFile(npyHeader(descr: "[('a', '<f4')]"), data: twelve), "structured dtypes are not supported")
        check(npyFile(npyHeader(shape: "[3]"), data: twelve), "'shape' is a list")
        check(npyFile(npyHeader(shape: "3"), data: twelve), "'shape' is an integer")
        check(npyFile(npyHeader(shape: "(-3,)"), data: twelve), "shape entry -3 is negative")
        check(npyFile(npyHeader(shape: "(2.5,)"), data: twelve), "non-integer number")
        check(npyFile(npyHeader(shape: "('3',)"), data: twelve), "shape entry is a string")
        check(npyFile(npyHeader(shape: "(99999999999999999999999,)"), data: twelve), "integer too large")
        check(npyFile(npyHeader(shape: "(4611686018427387904, 8)"), data: twelve), "too large")
        check(npyFile(npyHeader(fortran: "'no'"), data: twelve), "'fortran_order' is a string")
        check(npyFile(npyHeader(fortran: "True", shape: "(2, 3)"), data: [UInt8](repeating: 0, count: 24)), "Fortran-order")
        // In 1-D, Fortran and C order are the same bytes.
        XCTAssertNoThrow(try NPY.decode(npyFile(npyHeader(fortran: "True"), data: twelve), source: s))
        // shape vs data length
        check(npyFile(npyHeader(), data: [UInt8](repeating: 0, count: 8)), "truncated", "shape [3] of '<f4' needs 12 data bytes but only 8")
        check(npyFile(npyHeader(), data: [UInt8](repeating: 0, count: 16)), "16 data bytes", "needs 12", "trailing")
        check(npyFile(npyHeader(descr: "'<f8'"), data: twelve), "shape [3] of '<f8' needs 24 data bytes but only 12")
        let f4 = try Data(contentsOf: Fixtures.url("io/f4.npy"))
        check(f4.dropLast(3), "truncated", "needs 96 data bytes but only 93")
    }

    // MARK: mutation fuzzing

    /// Flips, overwrites, truncates or extends a valid file at random positions.
    func mutate(_ base: [UInt8], headerEnd: Int, rng: inout RNG) -> [UInt8] {
        var b = base
        let interesting = Array("0123456789-.,:[]{}()\"' eEL\\TrueFalse".utf8) + [0x00, 0xFF, 0x80, 0x7F]
        for _ in 0..<(1 + rng.int(below: 3)) {
            guard !b.isEmpty else { break }
            let inHeader = rng.int(below: 4) != 0
            let at = inHeader ? rng.int(below: Swift.min(headerEnd, b.count)) : rng.int(below: b.count)
            switch rng.int(below: 7) {
            case 0: b[at] ^= UInt8(1 << rng.int(below: 8))
            case 1: b[at] = UInt8(truncatingIfNeeded: rng.next())
            case 2: b[at] = interesting[rng.int(below: interesting.count)]
            case 3: b.removeSubrange(rng.int(below: b.count)..<b.count)
            case 4: b += (0..<(1 + rng.int(below: 16))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 5: b[rng.int(below: Swift.min(12, b.count))] = UInt8(truncatingIfNeeded: rng.next())   // length/version fields
            default: b.insert(interesting[rng.int(below: interesting.count)], at: at)
            }
        }
        return b
    }

    /// Every returned tensor is consistent with its shape and fits in the file.
    func assertSane(_ tensors: [Tensor], fileSize: Int, _ what: String) {
        var total = 0
        for t in tensors {
            XCTAssertTrue(t.shape.allSatisfy { $0 >= 0 }, "\(what): negative shape \(t.shape)")
            XCTAssertEqual(t.count, t.shape.reduce(1, *), "\(what): count vs shape \(t.shape)")
            total += t.count
        }
        XCTAssertLessThanOrEqual(total, fileSize, what)   // every element takes at least one byte
    }

    func testMutatedFilesNeverCrash() throws {
        var rng = RNG(seed: 0x5AFE_7E50)
        let st1 = [UInt8](try SafeTensors.encode(["a": make([2, 3]) { Float($0) }, "b.c": make([4]) { -Float($0) },
                                                  "e": Tensor(zeros: [0, 2])], metadata: ["format": "pt"]))
        let st2 = [UInt8](try Data(contentsOf: Fixtures.url("io/mixed.safetensors")))
        let np1 = [UInt8](NPY.encode(make([2, 3]) { Float($0) / 3 }))
        let np2 = [UInt8](try Data(contentsOf: Fixtures.url("io/i8.npy")))
        func stHeaderEnd(_ b: [UInt8]) -> Int { 8 + (0..<8).reduce(0) { $0 | Int(b[$1]) << (8 * $1) } }
        func npyHeaderEnd(_ b: [UInt8]) -> Int { 10 + (Int(b[8]) | Int(b[9]) << 8) }

        var outcomes = (stOK: 0, stErr: 0, npOK: 0, npErr: 0)
        for i in 0..<2000 {
            let base = i % 2 == 0 ? st1 : st2
            let m = mutate(base, headerEnd: stHeaderEnd(base), rng: &rng)
            do {
                let (t, _) = try SafeTensors.decode(Data(m), source: "m")
                assertSane(Array(t.values), fileSize: m.count, "safetensors mutation \(i)")
                outcomes.stOK += 1
            } catch TensorError.io(_, _) {
                outcomes.stErr += 1
            } catch {
                XCTFail("safetensors mutation \(i): unexpected error \(error)")
            }
        }
        for i in 0..<2000 {
            let base = i % 2 == 0 ? np1 : np2
            let m = mutate(base, headerEnd: npyHeaderEnd(base), rng: &rng)
            do {
                let t = try NPY.decode(Data(m), source: "m")
                assertSane([t], fileSize: m.count, "npy mutation \(i)")
                outcomes.npOK += 1
            } catch TensorError.io(_, _) {
                outcomes.npErr += 1
            } catch {
                XCTFail("npy mutation \(i): unexpected error \(error)")
            }
        }
        // Both outcomes occur, so the loop exercises the decoders and the validation.
        XCTAssertGreaterThan(outcomes.stOK, 0); XCTAssertGreaterThan(outcomes.stErr, 0)
        XCTAssertGreaterThan(outcomes.npOK, 0); XCTAssertGreaterThan(outcomes.npErr, 0)
    }

    /// Decoding works on a Data slice that does not start at index 0.
    func testDecodeFromDataSlice() throws {
        var d = Data([1, 2, 3])
        d.append(try SafeTensors.encode(["w": make([3]) { Float($0) }], metadata: [:]))
        assertExact(try SafeTensors.decode(d.dropFirst(3), source: "s").tensors["w"], [3], [0, 1, 2])
        var n = Data([9])
        n.append(NPY.encode(make([2]) { Float($0) + 1 }))
        assertExact(try NPY.decode(n.dropFirst(), source: "n"), [2], [1, 2])
    }
}
