// NumPy .npy reading and writing (plus the element conversion shared with SafeTensors.swift; file helpers are in FileIO.swift).
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SquadTensor

/// NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
///
/// Reading accepts C-order arrays of float16/32/64, int8/16/32/64, uint8/16/32/64 and
/// bool in either byte order; every value is converted to `Float`. A 0-d array
/// (shape `()`) reads as a tensor of shape `[1]`, the engine's scalar shape.
/// Writing produces what `np.save` writes for a float32 C-order array: version 1.0,
/// `'<f4'`, the header padded to 64 bytes with numpy's spare room for growing the
/// first axis.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    public static func read(_ url: URL) throws -> Tensor {
        try decode(IOFile.read(url), source: url.path)
    }

    /// Writes `t` as a float32 `.npy` file through a temporary file in the same folder
    /// and a rename, so readers never see a half-written file.
    public static func write(_ t: Tensor, to url: URL) throws {
        try IOFile.replaceAtomically(url, with: encode(t))
    }

    /// Decodes `.npy` bytes; `source` names the file in errors.
    public static func decode(_ data: Data, source: String) throws -> Tensor {
        try data.withUnsafeBytes { raw in try decode(raw, source: source) }
    }

    /// The bytes `np.save` writes for this tensor as float32.
    public static func encode(_ t: Tensor) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(pythonTuple(t.shape)), }"
        if let first = t.shape.first {
            // numpy's GROWTH_AXIS_MAX_DIGITS (21): room to rewrite the shape in place.
            header += String(repeating: " ", count: Swift.max(0, 21 - String(first).utf8.count))
        }
        var headerBytes = Array(header.utf8)
        let hlen = headerBytes.count + 1                    // + the final newline
        var prefixLength = 10                               // magic, version, u16 length
        var padding = 64 - (prefixLength + hlen) % 64
        var major: UInt8 = 1
        if hlen + padding > 0xFFFF {                        // numpy switches to 2.0 (u32 length)
            major = 2
            prefixLength = 12
            padding = 64 - (prefixLength + hlen) % 64
        }
        headerBytes += [UInt8](repeating: 0x20, count: padding)
        headerBytes.append(0x0A)

        var out = Data(capacity: prefixLength + headerBytes.count + t.count * 4)
        out.append(contentsOf: magic)
        out.append(contentsOf: [major, 0])
        let total = UInt32(headerBytes.count)
        if major == 1 {
            out.append(contentsOf: [UInt8(total & 0xFF), UInt8((total >> 8) & 0xFF)])
        } else {
            out.append(contentsOf: (0..<4).map { UInt8((total >> (8 * UInt32($0))) & 0xFF) })
        }
        out.append(contentsOf: headerBytes)
        IOElement.appendFloat32LE(t, to: &out)
        return out
    }

    static func pythonTuple(_ shape: [Int]) -> String {
        switch shape.count {
        case 0: return "()"
        case 1: return "(\(shape[0]),)"
        default: return "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
    }

    // MARK: decoding

    static func decode(_ bytes: UnsafeRawBufferPointer, source: String) throws -> Tensor {
        func fail(_ message: String) -> TensorError { .io(path: source, message: message) }
        let n = bytes.count
        let magicSeen = Swift.min(n, magic.count)
        for i in 0..<magicSeen where bytes[i] != magic[i] {
            throw fail("not an .npy file: bad magic (expected \\x93NUMPY at the start)")
        }
        guard n >= 10 else {
            throw fail("truncated .npy file: \(n) bytes, shorter than the 10-byte preamble")
        }
        let major = bytes[6], minor = bytes[7]
        let headerStart: Int, headerLength: Int
        switch (major, minor) {
        case (1, 0):
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case (2, 0), (3, 0):
            guard n >= 12 else { throw fail("truncated .npy file: \(n) bytes, shorter than the 12-byte version \(major).0 preamble") }
            headerStart = 12
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        default:
            throw fail("unsupported .npy format version \(major).\(minor) (supported: 1.0, 2.0, 3.0)")
        }
        guard headerLength <= n - headerStart else {
            throw fail("truncated .npy file: header length \(headerLength) but only \(n - headerStart) bytes follow the preamble")
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[headerStart..<(headerStart + headerLength)])
        let fields = try parseHeader(header, fail: fail)

        let dataStart = headerStart + headerLength
        let available = n - dataStart
        var count = 1
        for d in fields.shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("shape \(IOFile.shapeText(fields.shape)) is too large") }
            count = p
        }
        let (needed, overflow) = count.multipliedReportingOverflow(by: fields.element.size)
        guard !overflow else { throw fail("shape \(IOFile.shapeText(fields.shape)) is too large") }
        if available < needed {
            throw fail("truncated .npy file: shape \(IOFile.shapeText(fields.shape)) of '\(fields.descr)' needs \(needed) data bytes but only \(available) follow the header")
        }
        if available > needed {
            throw fail("\(available) data bytes follow the header but shape \(IOFile.shapeText(fields.shape)) of '\(fields.descr)' needs \(needed) (trailing bytes)")
        }
        let t = Tensor(uninitialized: fields.shape.isEmpty ? [1] : fields.shape)
        if let base = bytes.baseAddress, count > 0 {
            IOElement.convert(fields.element, bigEndian: fields.bigEndian, from: base + dataStart, count: count, into: t.data)
        }
        return t
    }

    struct HeaderFields {
        var descr: String
        var element: IOElement
        var bigEndian: Bool
        var shape: [Int]
    }

    static func parseHeader(_ header: UnsafeRawBufferPointer, fail: (String) -> TensorError) throws -> HeaderFields {
        var parser = PyLiteralParser(bytes: header)
        let value: PyLiteral
        do {
            value = try parser.parseHeader()
        } catch let e as PyLiteralParser.Failure {
            throw fail("bad header: \(e.message)")
        }
        guard case .dict(let entries) = value else {
            throw fail("bad header: expected a dict, found \(value.kind)")
        }
        var dict: [String: PyLiteral] = [:]
        for (k, v) in entries {
            guard case .string(let key) = k else { throw fail("bad header: a dict key is \(k.kind), not a string") }
            if dict[key] != nil { throw fail("bad header: duplicate key '\(key)'") }
            dict[key] = v
        }
        for key in ["descr", "fortran_order", "shape"] where dict[key] == nil {
            throw fail("bad header: missing key '\(key)'")
        }
        for key in dict.keys.sorted() where !["descr", "fortran_order", "shape"].contains(key) {
            throw fail("bad header: unexpected key '\(key)'")
        }
        // descr
        let descr: String
        switch dict["descr"] {
        case .string(let s)?: descr = s
        case .list?, .tuple?: throw fail("structured dtypes are not supported (descr is \(dict["descr"]?.kind ?? "a list"))")
        case let other?: throw fail("bad header: 'descr' is \(other.kind), expected a string")
        case nil: throw fail("bad header: missing key 'descr'")
        }
        guard let (element, bigEndian) = IOElement.numpy(descr) else {
            throw fail("unsupported dtype '\(descr)' (supported: float16/32/64, int8/16/32/64, uint8/16/32/64, bool)")
        }
        // shape
        guard case .tuple(let dims)? = dict["shape"] else {
            throw fail("bad header: 'shape' is \(dict["shape"]?.kind ?? "missing"), expected a tuple of non-negative integers")
        }
        var shape: [Int] = []
        for d in dims {
            guard case .int(let v) = d else { throw fail("bad header: a shape entry is \(d.kind), not an integer") }
            guard v >= 0 else { throw fail("bad header: shape entry \(v) is negative") }
            shape.append(v)
        }
        // fortran_order
        guard case .bool(let fortran)? = dict["fortran_order"] else {
            throw fail("bad header: 'fortran_order' is \(dict["fortran_order"]?.kind ?? "missing"), expected True or False")
        }
        // In 0-d and 1-d arrays Fortran and C order are the same bytes.
        if fortran && shape.count > 1 {
            throw fail("Fortran-order (column-major) arrays are not supported; save a C-order array (np.ascontiguousarray) instead")
        }
        return HeaderFields(descr: descr, element: element, bigEndian: bigEndian, shape: shape)
    }
}

// MARK: - the Python literal subset of .npy headers

/// A value of the Python literal subset that `np.save` headers use.
enum PyLiteral {
    case string(String), int(Int), bool(Bool), none
    case tuple([PyLiteral]), list([PyLiteral]), dict([(PyLiteral, PyLiteral)])

    var kind: String {
        switch self {
        case .string: return "a string"
        case .int: return "an integer"
        case .bool: return "a bool"
        case .none: return "None"
        case .tuple: return "a tuple"
        case .list: return "a list"
        case .dict: return "a dict"
        }
    }
}

/// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` and similar,
/// bounds-checked, with a nesting limit.
struct PyLiteralParser {
    struct Failure: Error { let message: String }
    let bytes: UnsafeRawBufferPointer
    var pos = 0
    static let maxDepth = 16

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func parseHeader() throws -> PyLiteral {
        let v = try parseValue(depth: 0)
        skipSpace()
        guard pos == bytes.count else { throw Failure(message: "unexpected \(describe(pos)) after the header value at offset \(pos)") }
        return v
    }

    func describe(_ i: Int) -> String {
        guard i < bytes.count else { return "end of header" }
        let b = bytes[i]
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x" + String(b, radix: 16)
    }

    mutating func skipSpace() {
        while pos < bytes.count, [0x20, 0x0A, 0x0D, 0x09, 0x0C, 0x0B].contains(bytes[pos]) { pos += 1 }
    }

    mutating func parseValue(depth: Int) throws -> PyLiteral {
        guard depth < PyLiteralParser.maxDepth else { throw Failure(message: "values nested too deeply") }
        skipSpace()
        guard pos < bytes.count else { throw Failure(message: "unexpected end of header") }
        let c = bytes[pos]
        switch c {
        case UInt8(ascii: "{"):
            pos += 1
            var entries: [(PyLiteral, PyLiteral)] = []
            while true {
                skipSpace()
                guard pos < bytes.count else { throw Failure(message: "unterminated dict") }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .dict(entries) }
                let k = try parseValue(depth: depth + 1)
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else {
                    throw Failure(message: "expected ':' after a dict key, found \(describe(pos))")
                }
                pos += 1
                let v = try parseValue(depth: depth + 1)
                entries.append((k, v))
                skipSpace()
                guard pos < bytes.count else { throw Failure(message: "unterminated dict") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .dict(entries) }
                throw Failure(message: "expected ',' or '}' in dict, found \(describe(pos))")
            }
        case UInt8(ascii: "("), UInt8(ascii: "["):
            let close = c == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
            pos += 1
            var items: [PyLiteral] = []
            var sawComma = false
            while true {
                skipSpace()
                guard pos < bytes.count else { throw Failure(message: "unterminated \(c == UInt8(ascii: "(") ? "tuple" : "list")") }
                if bytes[pos] == close { pos += 1; break }
                items.append(try parseValue(depth: depth + 1))
                skipSpace()
                guard pos < bytes.count else { throw Failure(message: "unterminated \(c == UInt8(ascii: "(") ? "tuple" : "list")") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; sawComma = true; continue }
                if bytes[pos] == close { pos += 1; break }
                throw Failure(message: "expected ',' or '\(Character(Unicode.Scalar(close)))', found \(describe(pos))")
            }
            if c == UInt8(ascii: "[") { return .list(items) }
            // `(3)` is just 3 in Python; a tuple needs a comma unless it is empty.
            if items.count == 1 && !sawComma { return items[0] }
            return .tuple(items)
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            pos += 1
            var s: [UInt8] = []
            while true {
                guard pos < bytes.count else { throw Failure(message: "unterminated string") }
                let b = bytes[pos]
                if b == c { pos += 1; break }
                if b == 0x0A { throw Failure(message: "newline inside a string") }
                if b == UInt8(ascii: "\\") {
                    guard pos + 1 < bytes.count else { throw Failure(message: "unterminated string") }
                    s.append(bytes[pos + 1]); pos += 2; continue
                }
                s.append(b); pos += 1
            }
            // .npy 1.0/2.0 headers are latin-1, 3.0 is UTF-8; non-ASCII never matters here.
            return .string(String(decoding: s, as: UTF8.self))
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            var negative = false
            if c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { negative = c == UInt8(ascii: "-"); pos += 1; skipSpace() }
            var v = 0, digits = 0
            while pos < bytes.count, bytes[pos] >= UInt8(ascii: "0"), bytes[pos] <= UInt8(ascii: "9") {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int(bytes[pos] - UInt8(ascii: "0")))
                guard !o1 && !o2 else { throw Failure(message: "integer too large at offset \(pos)") }
                v = a; digits += 1; pos += 1
            }
            guard digits > 0 else { throw Failure(message: "expected digits at offset \(pos), found \(describe(pos))") }
            if pos < bytes.count && (bytes[pos] == UInt8(ascii: "L") || bytes[pos] == UInt8(ascii: "l")) { pos += 1 }  // Python 2 longs
            if pos < bytes.count && [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "j")].contains(bytes[pos]) {
                throw Failure(message: "non-integer number at offset \(pos)")
            }
            return .int(negative ? -v : v)
        default:
            for (word, value) in [("True", PyLiteral.bool(true)), ("False", .bool(false)), ("None", .none)] {
                let w = Array(word.utf8)
                if pos + w.count <= bytes.count && (0..<w.count).allSatisfy({ bytes[pos + $0] == w[$0] }) {
                    let end = pos + w.count
                    if end < bytes.count, isIdentifierByte(bytes[end]) { break }
                    pos = end
                    return value
                }
            }
            throw Failure(message: "unexpected \(describe(pos)) at offset \(pos)")
        }
    }

    func isIdentifierByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_")
    }
}

// MARK: - shared with SafeTensors.swift

/// Element types the readers convert to Float.
enum IOElement: Equatable {
    case f16, bf16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64, bool

    var size: Int {
        switch self {
        case .i8, .u8, .bool: return 1
        case .f16, .bf16, .i16, .u16: return 2
        case .f32, .i32, .u32: return 4
        case .f64, .i64, .u64: return 8
        }
    }

    /// A numpy descr such as `<f4`, `>i8`, `|b1`; nil when unsupported.
    static func numpy(_ descr: String) -> (IOElement, bigEndian: Bool)? {
        var s = Substring(descr)
        var order: Character = "="
        if let f = s.first, "<>|=".contains(f) { order = f; s = s.dropFirst() }
        let table: [String: IOElement] = [
            "f2": .f16, "f4": .f32, "f8": .f64, "i1": .i8, "i2": .i16, "i4": .i32, "i8": .i64,
            "u1": .u8, "u2": .u16, "u4": .u32, "u8": .u64, "b1": .bool, "?": .bool,
        ]
        guard let e = table[String(s)] else { return nil }
        let hostBig = 1.bigEndian == 1
        switch order {
        case "<": return (e, false)
        case ">": return (e, true)
        case "|": return e.size == 1 ? (e, false) : nil   // '|' means "not applicable": bytes only
        default: return (e, hostBig)
        }
    }

    /// A safetensors dtype name; nil when unsupported.
    static func safetensors(_ dtype: String) -> IOElement? {
        switch dtype {
        case "F16": return .f16
        case "BF16": return .bf16
        case "F32": return .f32
        case "F64": return .f64
        case "I8": return .i8
        case "I16": return .i16
        case "I32": return .i32
        case "I64": return .i64
        case "U8": return .u8
        case "U16": return .u16
        case "U32": return .u32
        case "U64": return .u64
        case "BOOL": return .bool
        default: return nil
        }
    }

    /// IEEE half → Float by bit manipulation (subnormals, infinities and NaN included).
    @inline(__always) static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // zero or subnormal: mantissa · 2^-24, exact in Float
            let magnitude = Float(mantissa) * (1.0 / 16_777_216.0)
            return Float(bitPattern: magnitude.bitPattern | sign)
        }
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// Converts `count` elements at `src` (any alignment) into `dst`.
    static func convert(_ e: IOElement, bigEndian: Bool, from src: UnsafeRawPointer, count: Int,
                        into dst: UnsafeMutablePointer<Float>) {
        let hostBig = 1.bigEndian == 1
        let swap = bigEndian != hostBig
        @inline(__always) func u16(_ i: Int) -> UInt16 {
            let v = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self); return swap ? v.byteSwapped : v
        }
        @inline(__always) func u32(_ i: Int) -> UInt32 {
            let v = src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self); return swap ? v.byteSwapped : v
        }
        @inline(__always) func u64(_ i: Int) -> UInt64 {
            let v = src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self); return swap ? v.byteSwapped : v
        }
        switch e {
        case .f32:
            if swap {
                for i in 0..<count { dst[i] = Float(bitPattern: u32(i)) }
            } else {
                UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
            }
        case .f64: for i in 0..<count { dst[i] = Float(Double(bitPattern: u64(i))) }
        case .f16: for i in 0..<count { dst[i] = halfToFloat(u16(i)) }
        case .bf16: for i in 0..<count { dst[i] = Float(bitPattern: UInt32(u16(i)) << 16) }
        case .i8: for i in 0..<count { dst[i] = Float(Int8(bitPattern: src.load(fromByteOffset: i, as: UInt8.self))) }
        case .u8: for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
        case .bool: for i in 0..<count { dst[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        case .i16: for i in 0..<count { dst[i] = Float(Int16(bitPattern: u16(i))) }
        case .u16: for i in 0..<count { dst[i] = Float(u16(i)) }
        case .i32: for i in 0..<count { dst[i] = Float(Int32(bitPattern: u32(i))) }
        case .u32: for i in 0..<count { dst[i] = Float(u32(i)) }
        case .i64: for i in 0..<count { dst[i] = Float(Int64(bitPattern: u64(i))) }
        case .u64: for i in 0..<count { dst[i] = Float(u64(i)) }
        }
    }

    /// Appends the tensor's values as little-endian float32.
    static func appendFloat32LE(_ t: Tensor, to out: inout Data) {
        guard t.count > 0 else { return }
        if 1.littleEndian == 1 {
            out.append(UnsafeBufferPointer(start: t.data, count: t.count))
        } else {
            var bytes = [UInt8](repeating: 0, count: t.count * 4)
            for i in 0..<t.count {
                let b = t.data[i].bitPattern.littleEndian
                for k in 0..<4 { bytes[4 * i + k] = UInt8((b >> (8 * UInt32(k))) & 0xFF) }
            }
            out.append(contentsOf: bytes)
        }
    }
}
