// safetensors reading and writing: fully validated headers, F32 output byte-compatible with the Python library.
import Foundation
import SquadTensor

/// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
/// (`{"__metadata__": {str: str}, "name": {"dtype", "shape", "data_offsets"}, …}`),
/// then the data buffer, with offsets relative to its start.
///
/// Reading accepts F32, F64, F16, BF16, I8/16/32/64, U8/16/32/64 and BOOL, converting
/// to `Float`, and rejects every header the Python library rejects (the tensors must
/// tile the data buffer exactly, with no gaps, overlaps or trailing bytes). A 0-d
/// tensor (shape `[]`) reads as shape `[1]`, the engine's scalar shape.
/// Writing stores F32 with tensors in byte order of their names, laid out in that
/// order, and the header padded with spaces to a multiple of 8 bytes, as the Python
/// library does.
public enum SafeTensors {
    /// Headers larger than this are refused (the Python library's limit).
    public static let maxHeaderLength: UInt64 = 100_000_000

    public static func read(_ url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        try decode(IOFile.read(url), source: url.path)
    }

    /// Writes through a temporary file in the same folder, fsync and rename.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let data: Data
        do {
            data = try encode(tensors, metadata: metadata)
        } catch TensorError.io(_, let message) {
            throw TensorError.io(path: url.path, message: message)
        }
        try IOFile.replaceAtomically(url, with: data)
    }

    /// The file bytes: F32 tensors, names sorted bytewise, `__metadata__` first when non-empty.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String]) throws -> Data {
        let names = tensors.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var entries: [String] = []
        if !metadata.isEmpty {
            let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            let body = keys.map { jsonString($0) + ":" + jsonString(metadata[$0] ?? "") }.joined(separator: ",")
            entries.append("\"__metadata__\":{" + body + "}")
        }
        var offset = 0
        var ordered: [Tensor] = []
        for name in names {
            guard let t = tensors[name] else { continue }
            guard name != "__metadata__" else {
                throw TensorError.io(path: "<safetensors>", message: "'__metadata__' is reserved and cannot name a tensor")
            }
            guard t.shape.allSatisfy({ $0 >= 0 }), t.shape.reduce(1, *) == t.count else {
                throw TensorError.io(path: "<safetensors>", message: "tensor '\(name)': shape \(IOFile.shapeText(t.shape)) does not hold its \(t.count) values")
            }
            let end = offset + t.count * 4
            entries.append(jsonString(name) + ":{\"dtype\":\"F32\",\"shape\":[" + t.shape.map(String.init).joined(separator: ",")
                + "],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
            ordered.append(t)
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var out = Data(capacity: 8 + header.count + offset)
        let n = UInt64(header.count)
        out.append(contentsOf: (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) })
        out.append(contentsOf: header)
        for t in ordered { IOElement.appendFloat32LE(t, to: &out) }
        return out
    }

    /// A JSON string literal escaped as serde_json does.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    // MARK: decoding

    public static func decode(_ data: Data, source: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        try data.withUnsafeBytes { raw in try decode(raw, source: source) }
    }

    struct Entry {
        let name: String
        let element: IOElement
        let dtype: String
        let shape: [Int]
        let count: Int
        let begin: Int
        let end: Int
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, source: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        func fail(_ message: String) -> TensorError { .io(path: source, message: message) }
        let n = bytes.count
        guard n >= 8 else { throw fail("file is \(n) bytes, too short for the 8-byte header length") }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= maxHeaderLength else {
            throw fail("header length \(headerLength) exceeds the \(maxHeaderLength)-byte limit (corrupt or not a safetensors file)")
        }
        guard headerLength <= UInt64(n - 8) else {
            throw fail("header length \(headerLength) exceeds the file size (\(n) bytes; \(n - 8) after the length field)")
        }
        let hlen = Int(headerLength)
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + hlen)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw fail("header is not valid UTF-8") }
        guard hlen > 0, headerBytes[0] == UInt8(ascii: "{") else {
            throw fail("header does not start with '{' (not a safetensors file?)")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            let reason = (error as NSError).userInfo["NSDebugDescription"] as? String ?? "\(error)"
            throw fail("header is not valid JSON: \(reason)")
        }
        guard let top = json as? [String: Any] else { throw fail("header JSON is not an object") }

        let bufferStart = 8 + hlen
        let bufferLength = n - bufferStart
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for name in top.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let value = top[name] ?? NSNull()
            if name == "__metadata__" {
                if value is NSNull { continue }
                guard let dict = value as? [String: Any] else {
                    throw fail("__metadata__ is \(jsonKind(value)), expected an object of strings")
                }
                for (k, v) in dict {
                    guard let s = jsonStringValue(v) else {
                        throw fail("__metadata__ value for key '\(k)' is \(jsonKind(v)), expected a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            entries.append(try entry(name, value, bufferLength: bufferLength, fail: fail))
        }

        // The tensors must tile the buffer: sorted by offsets, each begins where the last ended.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        var previous: Entry? = nil
        for e in entries {
            if e.begin < covered, let p = previous {
                throw fail("tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] overlap tensor '\(p.name)' [\(p.begin), \(p.end)]")
            }
            if e.begin > covered {
                throw fail("tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] leave bytes [\(covered), \(e.begin)) of the data buffer uncovered (the tensors must tile it without gaps)")
            }
            covered = e.end
            previous = e
        }
        if covered != bufferLength {
            throw fail("data buffer is \(bufferLength) bytes but the tensors cover only \(covered); bytes [\(covered), \(bufferLength)) belong to no tensor")
        }

        var tensors: [String: Tensor] = [:]
        for e in entries {
            let t = Tensor(uninitialized: e.shape.isEmpty ? [1] : e.shape)
            if e.count > 0, let base = bytes.baseAddress {
                IOElement.convert(e.element, bigEndian: false, from: base + bufferStart + e.begin, count: e.count, into: t.data)
            }
            tensors[e.name] = t
        }
        return (tensors, metadata)
    }

    /// Validates one tensor's header entry against the buffer length.
    static func entry(_ name: String, _ value: Any, bufferLength: Int, fail: (String) -> TensorError) throws -> Entry {
        func bad(_ message: String) -> TensorError { fail("tensor '\(name)': \(message)") }
        guard let info = value as? [String: Any] else { throw bad("entry is \(jsonKind(value)), expected an object with dtype, shape and data_offsets") }
        guard let dtypeValue = info["dtype"] else { throw bad("missing \"dtype\"") }
        guard let dtype = jsonStringValue(dtypeValue) else { throw bad("\"dtype\" is \(jsonKind(dtypeValue)), expected a string") }
        guard let element = IOElement.safetensors(dtype) else {
            throw bad("unsupported dtype '\(dtype)' (supported: F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, BOOL)")
        }
        guard let shapeValue = info["shape"] else { throw bad("missing \"shape\"") }
        guard let dims = shapeValue as? [Any] else { throw bad("\"shape\" is \(jsonKind(shapeValue)), expected an array of non-negative integers") }
        var shape: [Int] = []
        for d in dims {
            guard let v = jsonInteger(d) else { throw bad("shape entry \(jsonText(d)) is not an integer") }
            guard v >= 0 else { throw bad("shape entry \(v) is negative") }
            shape.append(v)
        }
        guard let offsetsValue = info["data_offsets"] else { throw bad("missing \"data_offsets\"") }
        guard let offsets = offsetsValue as? [Any] else {
            throw bad("\"data_offsets\" is \(jsonKind(offsetsValue)), expected an array [begin, end]")
        }
        guard offsets.count == 2 else { throw bad("\"data_offsets\" has \(offsets.count) entries, expected 2 ([begin, end])") }
        var bounds: [Int] = []
        for o in offsets {
            guard let v = jsonInteger(o) else { throw bad("data_offsets entry \(jsonText(o)) is not an integer") }
            guard v >= 0 else { throw bad("data_offsets entry \(v) is negative") }
            bounds.append(v)
        }
        let begin = bounds[0], end = bounds[1]
        guard begin <= end else { throw bad("data_offsets [\(begin), \(end)] begin after they end") }
        guard end <= bufferLength else {
            throw bad("data_offsets [\(begin), \(end)] run past the end of the \(bufferLength)-byte data buffer")
        }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw bad("shape \(IOFile.shapeText(shape)) is too large") }
            count = p
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: element.size)
        guard !overflow else { throw bad("shape \(IOFile.shapeText(shape)) is too large") }
        guard end - begin == bytes else {
            throw bad("data_offsets [\(begin), \(end)] do not match shape \(IOFile.shapeText(shape)) of \(dtype) (\(bytes) bytes)")
        }
        return Entry(name: name, element: element, dtype: dtype, shape: shape, count: count, begin: begin, end: end)
    }

    // MARK: JSON values from JSONSerialization (numbers are NSNumber, booleans too)

    static func isBoolean(_ n: NSNumber) -> Bool {
        String(cString: n.objCType) == "c" || String(describing: type(of: n)).contains("Boolean")
    }

    /// An integer-typed JSON number (not a float like 2.0 or 2.5, not a boolean).
    static func jsonInteger(_ v: Any) -> Int? {
        guard !(v is String), let n = v as? NSNumber, !(n is NSDecimalNumber), !isBoolean(n) else { return nil }
        guard "islqISLQ".contains(String(cString: n.objCType)) else { return nil }
        return Int(exactly: n)
    }

    static func jsonStringValue(_ v: Any) -> String? {
        if v is NSNumber || v is NSNull { return nil }
        return v as? String
    }

    static func jsonKind(_ v: Any) -> String {
        if v is NSNull { return "null" }
        if jsonStringValue(v) != nil { return "a string" }
        if let n = v as? NSNumber { return isBoolean(n) ? "a boolean" : "a number" }
        if v is [Any] { return "an array" }
        if v is [String: Any] { return "an object" }
        return "\(type(of: v))"
    }

    static func jsonText(_ v: Any) -> String {
        if v is NSNull { return "null" }
        if let s = jsonStringValue(v) { return jsonString(s) }
        if let n = v as? NSNumber { return isBoolean(n) ? (n.boolValue ? "true" : "false") : "\(n)" }
        return jsonKind(v)
    }
}
