// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed (inflated through zlib); every error names the file.
import Foundation
import CZlib
import SquadNN

/// An IDX array: its shape, element type code and raw big-endian payload.
public struct IDXArray {
    public let shape: [Int]
    /// 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64.
    public let typeCode: UInt8
    public let payload: [UInt8]

    public var count: Int { shape.reduce(1, *) }

    /// Element `i` as a Float (big-endian decoding by type).
    public func value(_ i: Int) -> Float {
        func be(_ k: Int, _ n: Int) -> UInt64 { var v: UInt64 = 0; for j in 0..<n { v = v << 8 | UInt64(payload[k * n + j]) }; return v }
        switch typeCode {
        case 0x08: return Float(payload[i])
        case 0x09: return Float(Int8(bitPattern: payload[i]))
        case 0x0B: return Float(Int16(bitPattern: UInt16(be(i, 2))))
        case 0x0C: return Float(Int32(bitPattern: UInt32(be(i, 4))))
        case 0x0D: return Float(bitPattern: UInt32(be(i, 4)))
        default: return Float(Double(bitPattern: be(i, 8)))
        }
    }
}

public enum IDX {
    static let elementSize: [UInt8: Int] = [0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8]

    /// Reads an IDX file; gzip data (magic 1f 8b) is inflated first, never beyond what its IDX header says the data needs.
    public static func read(_ url: URL) throws -> IDXArray {
        if let why = IOFile.notRegularFile(url.path) { throw DataError.file(path: url.path, row: nil, message: why) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DataError.file(path: url.path, row: nil, message: "cannot read: \(error.localizedDescription)")
        }
        let raw = data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B
            ? try gunzip(data, source: url.path, limitedByHeader: true) : [UInt8](data)
        return try decode(raw, source: url.path)
    }

    /// The total size (header and data) an IDX file with this start declares, once `bytes` holds its whole header;
    /// nil while the header is incomplete. Throws what `decode` says about a header that cannot be valid.
    static func declaredSize(_ bytes: [UInt8], source: String) throws -> Int? {
        guard bytes.count >= 4 else { return nil }
        guard bytes[0] == 0, bytes[1] == 0, let size = elementSize[bytes[2]], bytes[3] >= 1 else {
            _ = try decode(bytes, source: source)
            throw DataError.file(path: source, row: nil, message: "not an IDX header")
        }
        let ndim = Int(bytes[3])
        guard bytes.count >= 4 + 4 * ndim else { return nil }
        var total = size
        for d in 0..<ndim {
            var v = 0
            for j in 0..<4 { v = v << 8 | Int(bytes[4 + 4 * d + j]) }
            let (p, overflow) = total.multipliedReportingOverflow(by: v)
            guard !overflow, p < Int.max / 2 else {
                throw DataError.file(path: source, row: nil, message: "IDX header declares a shape too large to hold")
            }
            total = p
        }
        return 4 + 4 * ndim + total
    }

    /// Inflates gzip bytes (every member of a multi-member file). With `limitedByHeader`, the inflated
    /// bytes are an IDX file: inflation stops, with an error, as soon as they pass the size its header declares.
    public static func gunzip(_ data: Data, source: String, limitedByHeader: Bool = false) throws -> [UInt8] {
        var input = [UInt8](data)
        var out = [UInt8]()
        out.reserveCapacity(min(input.count * 4, 1 << 28))
        var chunk = [UInt8](repeating: 0, count: 1 << 18)
        var consumed = 0
        var limit: Int? = nil
        let compressed = input.count
        while consumed < input.count {
            var stream = z_stream()
            guard msq_inflate_init2(&stream, 16 + MAX_WBITS) == Z_OK else {
                throw DataError.file(path: source, row: nil, message: "zlib could not start inflating")
            }
            defer { inflateEnd(&stream) }
            var status: Int32 = Z_OK
            let start = consumed
            try input.withUnsafeMutableBufferPointer { inBuf in
                stream.next_in = inBuf.baseAddress! + start
                stream.avail_in = uInt(inBuf.count - start)
                repeat {
                    // until the header is known, inflate a little at a time; then at most one byte past the limit
                    let room = limit.map { max(1, min(chunk.count, $0 + 1 - out.count)) } ?? (limitedByHeader ? 64 : chunk.count)
                    let produced: Int = chunk.withUnsafeMutableBufferPointer { outBuf in
                        stream.next_out = outBuf.baseAddress
                        stream.avail_out = uInt(room)
                        status = inflate(&stream, Z_NO_FLUSH)
                        return room - Int(stream.avail_out)
                    }
                    out.append(contentsOf: chunk[0..<produced])
                    if limitedByHeader {
                        if limit == nil, let l = try declaredSize(out, source: source) {
                            // deflate inflates at most ~1032:1, so a larger claim cannot be met by this file
                            guard l <= 1100 * compressed + 4096 else {
                                throw DataError.file(path: source, row: nil, message:
                                    "IDX header declares \(l) bytes, more than \(compressed) bytes of gzip data can hold (truncated file?)")
                            }
                            limit = l
                        }
                        if let l = limit, out.count > l {
                            throw DataError.file(path: source, row: nil, message:
                                "gzip data inflates to more than the \(l) bytes its IDX header declares (stopped after \(out.count) bytes); the file is corrupt or not what it claims")
                        }
                    }
                    // out of input before the end of the stream: a truncated file
                    if status == Z_BUF_ERROR && stream.avail_in == 0 { break }
                    if status != Z_OK && status != Z_STREAM_END && !(status == Z_BUF_ERROR && produced > 0) {
                        let msg = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                        throw DataError.file(path: source, row: nil, message: "not valid gzip data (\(msg))")
                    }
                } while status != Z_STREAM_END
            }
            if status != Z_STREAM_END {
                throw DataError.file(path: source, row: nil, message: "gzip data ends early (truncated file?)")
            }
            consumed = input.count - Int(stream.avail_in)
            // trailing zero padding after the last member is allowed
            if input[consumed...].allSatisfy({ $0 == 0 }) { break }
        }
        input.removeAll()
        return out
    }

    /// Decodes IDX bytes: magic 00 00 type ndim, ndim big-endian u32 sizes, then the payload.
    public static func decode(_ bytes: [UInt8], source: String) throws -> IDXArray {
        func fail(_ m: String) -> DataError { .file(path: source, row: nil, message: m) }
        guard bytes.count >= 4 else { throw fail("too short for an IDX header (\(bytes.count) bytes)") }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw fail(String(format: "not an IDX file: magic starts %02x %02x, expected 00 00", bytes[0], bytes[1]))
        }
        guard let size = elementSize[bytes[2]] else {
            throw fail(String(format: "unknown IDX element type 0x%02x (known: 08 u8, 09 i8, 0b i16, 0c i32, 0d f32, 0e f64)", bytes[2]))
        }
        let ndim = Int(bytes[3])
        guard ndim >= 1 else { throw fail("IDX header declares 0 dimensions") }
        guard bytes.count >= 4 + 4 * ndim else { throw fail("header declares \(ndim) dimensions but the file ends inside the sizes") }
        var shape = [Int]()
        for d in 0..<ndim {
            var v = 0
            for j in 0..<4 { v = v << 8 | Int(bytes[4 + 4 * d + j]) }
            shape.append(v)
        }
        // elements and bytes with overflow checks: a header may claim 2^32 along every axis (found by fuzzing)
        var count = 1, tooLarge = false
        for v in shape { let (p, o) = count.multipliedReportingOverflow(by: v); if o { tooLarge = true; break }; count = p }
        let (need, o2) = count.multipliedReportingOverflow(by: size)
        guard !tooLarge, !o2 else { throw fail("header declares shape \(shape), more data than any file can hold") }
        let start = 4 + 4 * ndim, have = bytes.count - start
        guard have >= need else { throw fail("truncated: shape \(shape) needs \(need) bytes of data, found \(have)") }
        guard have == need else { throw fail("\(have - need) unexpected bytes after the data of shape \(shape)") }
        return IDXArray(shape: shape, typeCode: bytes[2], payload: Array(bytes[start...]))
    }
}
