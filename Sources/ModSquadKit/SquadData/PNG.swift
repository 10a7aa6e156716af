// PNG reading and writing through Cairo: RGB tensors [3, H, W] (or grey [1, H, W]) with values in [0, 1].
import Foundation
import CCairo
import CZlib
import SquadNN
import SquadTensor

public enum PNG {
    /// Reads a PNG as RGB bytes (alpha dropped, colours un-premultiplied): (width, height, rgb [3·H·W] planar).
    public static func readBytes(_ url: URL) throws -> (width: Int, height: Int, rgb: [UInt8]) {
        if let why = IOFile.notRegularFile(url.path) { throw DataError.file(path: url.path, row: nil, message: why) }
        try checkHeader(url)
        guard let surface = cairo_image_surface_create_from_png(url.path) else {
            throw DataError.file(path: url.path, row: nil, message: "cannot read as PNG")
        }
        defer { cairo_surface_destroy(surface) }
        let status = cairo_surface_status(surface)
        guard status == CAIRO_STATUS_SUCCESS else {
            // cairo reports every libpng error as "out of memory"; the header was checked, so it is the image data
            let why = status == CAIRO_STATUS_NO_MEMORY ? "corrupt image data after a valid header"
                : status == CAIRO_STATUS_READ_ERROR ? "the image data is cut short or unreadable"
                : String(cString: cairo_status_to_string(status))
            throw DataError.file(path: url.path, row: nil, message: "not a readable PNG (\(why))")
        }
        cairo_surface_flush(surface)
        let w = Int(cairo_image_surface_get_width(surface)), h = Int(cairo_image_surface_get_height(surface))
        let stride = Int(cairo_image_surface_get_stride(surface)), format = cairo_image_surface_get_format(surface)
        guard let base = cairo_image_surface_get_data(surface) else {
            throw DataError.file(path: url.path, row: nil, message: "PNG has no pixel data")
        }
        var rgb = [UInt8](repeating: 0, count: 3 * w * h)
        let n = w * h
        for y in 0..<h {
            let row = base + y * stride
            for x in 0..<w {
                let k = y * w + x
                switch format {
                case CAIRO_FORMAT_A8:
                    let v = row[x]; rgb[k] = v; rgb[n + k] = v; rgb[2 * n + k] = v
                case CAIRO_FORMAT_A1:
                    let v: UInt8 = (row[x / 8] >> (x % 8)) & 1 == 1 ? 255 : 0; rgb[k] = v; rgb[n + k] = v; rgb[2 * n + k] = v
                default:
                    // ARGB32 / RGB24: native-endian 0xAARRGGBB words, colours premultiplied by alpha
                    let px = UnsafeRawPointer(row + 4 * x).loadUnaligned(as: UInt32.self)
                    let a = format == CAIRO_FORMAT_ARGB32 ? Int(px >> 24) : 255
                    func un(_ c: UInt32) -> UInt8 { a == 0 ? 0 : UInt8(min(255, (Int(c & 0xFF) * 255 + a / 2) / a)) }
                    rgb[k] = un(px >> 16); rgb[n + k] = un(px >> 8); rgb[2 * n + k] = un(px)
                }
            }
        }
        return (w, h, rgb)
    }

    /// The largest image read (pixels): 64 megapixels, a 256 MB surface.
    public static let maxPixels = 1 << 26

    /// Checks the signature and the IHDR chunk (its CRC, size, bit depth, colour type and methods)
    /// before anything is allocated, and that the file is large enough to hold the image it declares.
    static func checkHeader(_ url: URL) throws {
        func fail(_ m: String) -> DataError { .file(path: url.path, row: nil, message: "not a readable PNG: \(m)") }
        guard let fh = FileHandle(forReadingAtPath: url.path) else { throw DataError.file(path: url.path, row: nil, message: "cannot open for reading") }
        defer { try? fh.close() }
        let head = [UInt8]((try? fh.read(upToCount: 33)) ?? Data())
        let size = (try? fh.seekToEnd()).map { Int($0) } ?? head.count
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard head.count >= 8, Array(head[0..<8]) == signature else { throw fail("the file does not start with the PNG signature") }
        guard head.count >= 33 else { throw fail("the file ends inside the IHDR header (\(size) bytes)") }
        func u32(_ at: Int) -> Int { head[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        guard Array(head[12..<16]) == Array("IHDR".utf8) else { throw fail("the first chunk is not IHDR") }
        guard u32(8) == 13 else { throw fail("the IHDR chunk is \(u32(8)) bytes long, not 13") }
        let crc = head[12..<29].withUnsafeBufferPointer { crc32(0, $0.baseAddress, 17) }
        guard Int(crc) == u32(29) else { throw fail("the IHDR chunk is corrupt (its CRC does not match)") }
        let w = u32(16), ht = u32(20), depth = Int(head[24]), colour = Int(head[25])
        guard w > 0, ht > 0 else { throw fail("the image is \(w)×\(ht); width and height must be at least 1") }
        guard w <= Int(Int32.max), ht <= Int(Int32.max) else { throw fail("the image is \(w)×\(ht); PNG sizes stop at 2^31-1") }
        let depths: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
        guard let allowed = depths[colour] else { throw fail("unknown colour type \(colour) (known: 0, 2, 3, 4, 6)") }
        guard allowed.contains(depth) else { throw fail("bit depth \(depth) is not allowed for colour type \(colour) (allowed: \(allowed.map(String.init).joined(separator: ", ")))") }
        guard head[26] == 0, head[27] == 0 else { throw fail("unknown compression or filter method (\(head[26]), \(head[27])); both must be 0") }
        guard head[28] <= 1 else { throw fail("unknown interlace method \(head[28])") }
        guard w <= 32767, ht <= 32767, w * ht <= maxPixels else {
            throw fail("the image is \(w)×\(ht), larger than this reader takes (32767 a side, \(maxPixels / (1 << 20)) megapixels)")
        }
        // deflate inflates at most ~1032:1: a smaller file cannot hold the rows it declares
        let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colour] ?? 4
        let raw = ht * (1 + (w * channels * depth + 7) / 8)
        guard raw <= 1100 * size + 4096 else {
            throw fail("the header declares a \(w)×\(ht) image (\(raw) bytes of rows) but the file has only \(size) bytes (truncated?)")
        }
    }

    /// Reads a PNG as a [3, H, W] tensor in [0, 1].
    public static func read(_ url: URL) throws -> Tensor {
        let (w, h, rgb) = try readBytes(url)
        let t = Tensor(uninitialized: [3, h, w])
        for k in 0..<rgb.count { t.data[k] = Float(rgb[k]) / 255 }
        return t
    }

    /// Writes [3, H, W] or [1, H, W] (or [H, W]) values in [0, 1] as an RGB PNG, atomically.
    public static func write(_ t: Tensor, to url: URL) throws {
        guard t.ndim == 2 || (t.ndim == 3 && (t.shape[0] == 1 || t.shape[0] == 3)) else {
            throw DataError.file(path: url.path, row: nil, message: "cannot write a tensor of shape \(t.shape) as PNG; expected [3, H, W], [1, H, W] or [H, W]")
        }
        let c = t.ndim == 2 ? 1 : t.shape[0], h = t.shape[t.ndim - 2], w = t.shape[t.ndim - 1], n = w * h
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(w), Int32(h)) else {
            throw DataError.file(path: url.path, row: nil, message: "cairo could not make a \(w)×\(h) image")
        }
        defer { cairo_surface_destroy(surface) }
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS, let base = cairo_image_surface_get_data(surface) else {
            throw DataError.file(path: url.path, row: nil, message: "cairo could not make a \(w)×\(h) image")
        }
        let stride = Int(cairo_image_surface_get_stride(surface))
        func byte(_ v: Float) -> UInt32 { v.isNaN ? 0 : UInt32(max(0, min(1, v)) * 255 + 0.5) }
        for y in 0..<h {
            let row = UnsafeMutableRawPointer(base + y * stride)
            for x in 0..<w {
                let k = y * w + x
                let r = byte(t.data[k]), g = byte(t.data[(c == 3 ? n : 0) + k]), b = byte(t.data[(c == 3 ? 2 * n : 0) + k])
                row.storeBytes(of: 0xFF00_0000 | r << 16 | g << 8 | b, toByteOffset: 4 * x, as: UInt32.self)
            }
        }
        cairo_surface_mark_dirty(surface)
        let folder = url.deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let tmp = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)")
        let status = cairo_surface_write_to_png(surface, tmp.path)
        guard status == CAIRO_STATUS_SUCCESS else {
            try? FileManager.default.removeItem(at: tmp)
            throw DataError.file(path: url.path, row: nil, message: "cannot write PNG (\(String(cString: cairo_status_to_string(status))))")
        }
        guard rename(tmp.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: tmp)
            throw DataError.file(path: url.path, row: nil, message: "cannot rename the PNG into place")
        }
    }
}
