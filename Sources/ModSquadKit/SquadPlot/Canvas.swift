// The Cairo canvas: an RGB image surface with shapes, DejaVu Sans text, pictures, atomic PNG output and PNG input.
import Foundation
import CCairo

/// Why a plot could not be drawn or written; every case says what and where.
/// Panels of bar and curve plots must be finite and at least 120×100 pixels.
func checkPanelSize(_ plot: String, _ w: Double, _ h: Double) throws {
    guard w >= 120, h >= 100, w.isFinite, h.isFinite else {
        throw PlotError.badInput(plot: plot, message: "panel size \(w)×\(h) is too small (at least 120×100)")
    }
}

public enum PlotError: Error, CustomStringConvertible, Equatable {
    case cannotWrite(path: String, reason: String)
    case cannotRead(path: String, reason: String)
    /// There is nothing to draw: which plot, and what is missing.
    case emptyStatistics(plot: String, message: String)
    /// The input does not fit the plot (shape, unknown task or layer, NaN, ...).
    case badInput(plot: String, message: String)
    case cairo(String)

    public var description: String {
        switch self {
        case let .cannotWrite(p, r): return "cannot write '\(p)': \(r)"
        case let .cannotRead(p, r): return "cannot read '\(p)': \(r)"
        case let .emptyStatistics(plot, m): return "\(plot): \(m)"
        case let .badInput(plot, m): return "\(plot): \(m)"
        case let .cairo(m): return "cairo: \(m)"
        }
    }
}

/// A rectangle in pixels of the written PNG (x right, y down).
public struct PlotRect: Equatable, Sendable, CustomStringConvertible {
    public var x: Double, y: Double, width: Double, height: Double
    public init(x: Double, y: Double, width: Double, height: Double) { self.x = x; self.y = y; self.width = width; self.height = height }
    public var midX: Double { x + width / 2 }
    public var midY: Double { y + height / 2 }
    public var maxX: Double { x + width }
    public var maxY: Double { y + height }
    public func inset(_ d: Double) -> PlotRect { PlotRect(x: x + d, y: y + d, width: max(0, width - 2 * d), height: max(0, height - 2 * d)) }
    func scaled(_ s: Double) -> PlotRect { PlotRect(x: x * s, y: y * s, width: width * s, height: height * s) }
    public var description: String { String(format: "(%.1f, %.1f, %.1f×%.1f)", x, y, width, height) }
}

/// One written image: its path, pixel size, and named regions (cells, panels, bars) in pixels.
public struct PlotFile {
    public var path: String
    public var width: Int, height: Int
    /// Where things were drawn, e.g. "blocks.0.attn/depth/3" for a heatmap cell; see each plot's documentation.
    public var regions: [String: PlotRect]
    public init(path: String, width: Int, height: Int, regions: [String: PlotRect] = [:]) {
        self.path = path; self.width = width; self.height = height; self.regions = regions
    }
}

/// What a plot wrote: one file, or one per layer.
public struct PlotOutput {
    public var files: [PlotFile]
    public init(files: [PlotFile]) { self.files = files }
    public var paths: [String] { files.map(\.path) }
    /// The first file's size.
    public var width: Int { files.first?.width ?? 0 }
    public var height: Int { files.first?.height ?? 0 }
    /// Every file's regions (their names do not collide across files of one plot).
    public var regions: [String: PlotRect] { files.reduce(into: [:]) { a, f in a.merge(f.regions) { x, _ in x } } }
}

/// Options shared by every plot.
public struct PlotStyle: Sendable {
    /// Pixels per layout unit (2 gives a sharper, twice as large PNG).
    public var scale: Double = 1
    public init(scale: Double = 1) { self.scale = scale }
}

public enum TextAlign: Sendable { case left, center, right }
public enum TextBaseline: Sendable { case top, middle, bottom }

/// The one font family every plot uses (fonts-dejavu-core).
public let plotFontFamily = "DejaVu Sans"

/// A white RGB canvas in layout units; `scale` maps units to pixels.
public final class Canvas {
    public let width: Int, height: Int   // pixels
    public let scale: Double
    let surface: OpaquePointer
    let cr: OpaquePointer
    static let maxSide = 16384

    /// A canvas of `width` × `height` layout units (rounded up to whole pixels after scaling).
    public init(width w: Double, height h: Double, scale: Double = 1, background: Color? = .white) throws {
        guard w.isFinite, h.isFinite, scale.isFinite, scale > 0, w >= 1, h >= 1 else {
            throw PlotError.badInput(plot: "canvas", message: "size \(w)×\(h) at scale \(scale) is not drawable")
        }
        let dw = (w * scale).rounded(.up), dh = (h * scale).rounded(.up)
        guard dw <= Double(Canvas.maxSide), dh <= Double(Canvas.maxSide) else {
            throw PlotError.badInput(plot: "canvas", message: "\(Int(min(dw, 1e15)))×\(Int(min(dh, 1e15))) pixels is larger than \(Canvas.maxSide) on a side; plot fewer items per image")
        }
        let pw = Int(dw), ph = Int(dh)
        guard let s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(pw), Int32(ph)) else { throw PlotError.cairo("no surface") }
        if cairo_surface_status(s) != CAIRO_STATUS_SUCCESS {
            let m = String(cString: cairo_status_to_string(cairo_surface_status(s)))
            cairo_surface_destroy(s)
            throw PlotError.cairo("surface \(pw)×\(ph): \(m)")
        }
        guard let c = cairo_create(s) else { cairo_surface_destroy(s); throw PlotError.cairo("no context") }
        surface = s; cr = c; width = pw; height = ph; self.scale = scale
        cairo_scale(cr, scale, scale)
        if let b = background {
            set(b)
            cairo_paint(cr)
        }
    }

    deinit {
        cairo_destroy(cr)
        cairo_surface_destroy(surface)
    }

    /// A small canvas to measure text with before a layout is known.
    public static func measuring() -> Canvas? { try? Canvas(width: 4, height: 4) }

    func set(_ c: Color) { cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a) }

    // MARK: shapes

    public func fill(_ r: PlotRect, _ color: Color) {
        set(color)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_fill(cr)
    }

    public func stroke(_ r: PlotRect, _ color: Color, lineWidth: Double = 1) {
        set(color)
        cairo_set_line_width(cr, lineWidth)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_stroke(cr)
    }

    /// A polyline; `dash` gives on/off lengths (empty = solid). Non-finite points break the line.
    public func line(_ points: [(Double, Double)], _ color: Color, width: Double = 1, dash: [Double] = [], round: Bool = true) {
        guard points.count >= 2 else { return }
        set(color)
        cairo_set_line_width(cr, width)
        cairo_set_line_join(cr, round ? CAIRO_LINE_JOIN_ROUND : CAIRO_LINE_JOIN_MITER)
        cairo_set_line_cap(cr, round ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT)
        dash.withUnsafeBufferPointer { cairo_set_dash(cr, $0.baseAddress, Int32(dash.count), 0) }
        var open = false
        for (x, y) in points {
            guard x.isFinite, y.isFinite else { open = false; continue }
            if open { cairo_line_to(cr, x, y) } else { cairo_move_to(cr, x, y); open = true }
        }
        cairo_stroke(cr)
        cairo_set_dash(cr, nil, 0, 0)
    }

    public func circle(_ x: Double, _ y: Double, radius: Double, _ color: Color) {
        set(color)
        cairo_new_sub_path(cr)
        cairo_arc(cr, x, y, radius, 0, 2 * Double.pi)
        cairo_fill(cr)
    }

    /// Runs `body` with drawing clipped to `r`.
    public func clipped(_ r: PlotRect, _ body: () throws -> Void) rethrows {
        cairo_save(cr)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_clip(cr)
        defer { cairo_restore(cr) }
        try body()
    }

    // MARK: text

    func font(_ size: Double, bold: Bool) {
        cairo_select_font_face(cr, plotFontFamily, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, size)
    }

    /// The advance width of `s` in layout units.
    public func textWidth(_ s: String, size: Double, bold: Bool = false) -> Double {
        font(size, bold: bold)
        var e = cairo_text_extents_t()
        cairo_text_extents(cr, s, &e)
        return e.x_advance
    }

    /// Draws `s` anchored at (x, y); `rotation` in degrees, counter-clockwise (90 reads bottom to top).
    public func text(_ s: String, x: Double, y: Double, size: Double, color: Color = .ink, bold: Bool = false,
                     align: TextAlign = .left, baseline: TextBaseline = .middle, rotation: Double = 0) {
        guard !s.isEmpty else { return }
        font(size, bold: bold)
        var fe = cairo_font_extents_t()
        cairo_font_extents(cr, &fe)
        var te = cairo_text_extents_t()
        cairo_text_extents(cr, s, &te)
        let dx: Double
        switch align { case .left: dx = 0; case .center: dx = -te.x_advance / 2; case .right: dx = -te.x_advance }
        let dy: Double
        switch baseline {
        case .top: dy = fe.ascent
        case .middle: dy = (fe.ascent - fe.descent) / 2
        case .bottom: dy = -fe.descent
        }
        cairo_save(cr)
        cairo_translate(cr, x, y)
        if rotation != 0 { cairo_rotate(cr, -rotation * Double.pi / 180) }
        set(color)
        cairo_move_to(cr, dx, dy)
        cairo_show_text(cr, s)
        cairo_restore(cr)
    }

    /// `s` shortened with "…" to fit `maxWidth`.
    public func fitted(_ s: String, maxWidth: Double, size: Double, bold: Bool = false) -> String {
        if textWidth(s, size: size, bold: bold) <= maxWidth { return s }
        var chars = Array(s)
        while !chars.isEmpty {
            chars.removeLast()
            let t = String(chars) + "…"
            if textWidth(t, size: size, bold: bold) <= maxWidth { return t }
        }
        return ""
    }

    // MARK: pictures

    /// Draws an RGB raster (planar [3, H, W] or gray [H, W], values in [0, 1]) into `r`, pixel-exact blocks.
    public func image(planar v: [Float], channels: Int, height h: Int, width w: Int, in r: PlotRect, alpha: Double = 1) throws {
        guard h > 0, w > 0, channels == 1 || channels == 3, v.count == channels * h * w else {
            throw PlotError.badInput(plot: "image", message: "\(v.count) values for \(channels)×\(h)×\(w)")
        }
        guard let img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(w), Int32(h)) else { throw PlotError.cairo("no image surface") }
        defer { cairo_surface_destroy(img) }
        guard cairo_surface_status(img) == CAIRO_STATUS_SUCCESS, let base = cairo_image_surface_get_data(img) else {
            throw PlotError.cairo("image surface \(w)×\(h) failed")
        }
        cairo_surface_flush(img)
        let stride = Int(cairo_image_surface_get_stride(img))
        func byte(_ x: Float) -> UInt32 { x.isFinite ? UInt32((min(max(x, 0), 1) * 255).rounded()) : 0 }
        let plane = h * w
        for y in 0..<h {
            let row = UnsafeMutableRawPointer(base + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0..<w {
                let i = y * w + x
                let rr = byte(v[i]), gg = byte(channels == 3 ? v[plane + i] : v[i]), bb = byte(channels == 3 ? v[2 * plane + i] : v[i])
                row[x] = 0xFF00_0000 | (rr << 16) | (gg << 8) | bb
            }
        }
        cairo_surface_mark_dirty(img)
        cairo_save(cr)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_clip(cr)
        cairo_translate(cr, r.x, r.y)
        cairo_scale(cr, r.width / Double(w), r.height / Double(h))
        cairo_set_source_surface(cr, img, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST)
        cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD)
        cairo_paint_with_alpha(cr, alpha)
        cairo_restore(cr)
    }

    // MARK: output

    /// Writes the canvas as PNG: into a temporary file beside `path`, then renamed over it.
    /// Creates missing parent folders.
    public func writePNG(to path: String) throws {
        try Canvas.writeAtomically(path) { fd in
            let sink = PNGSink(fd: fd)
            let status = cairo_surface_write_to_png_stream(surface, { closure, data, length in
                guard let closure = closure, let data = data else { return CAIRO_STATUS_WRITE_ERROR }
                let sink = Unmanaged<PNGSink>.fromOpaque(closure).takeUnretainedValue()
                var off = 0
                while off < Int(length) {
                    let n = Glibc.write(sink.fd, data + off, Int(length) - off)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { sink.error = errno; return CAIRO_STATUS_WRITE_ERROR }
                    off += n
                }
                return CAIRO_STATUS_SUCCESS
            }, Unmanaged.passUnretained(sink).toOpaque())
            if status != CAIRO_STATUS_SUCCESS {
                return sink.error != 0 ? String(cString: strerror(sink.error)) : String(cString: cairo_status_to_string(status))
            }
            return nil
        }
    }

    final class PNGSink { let fd: Int32; var error: Int32 = 0; init(fd: Int32) { self.fd = fd } }

    /// Opens a temporary file in `path`'s folder, lets `body` fill it (returning an error text or nil),
    /// then renames it to `path`. Every failure names the path and the reason.
    static func writeAtomically(_ path: String, _ body: (Int32) throws -> String?) throws {
        guard !path.isEmpty else { throw PlotError.cannotWrite(path: path, reason: "the path is empty") }
        let url = URL(fileURLWithPath: path)
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            throw PlotError.cannotWrite(path: path, reason: "it is a folder; give a file name ending in .png")
        }
        let dir = url.deletingLastPathComponent()
        if fm.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw PlotError.cannotWrite(path: path, reason: "'\(dir.path)' is a file, not a folder") }
        } else {
            do { try fm.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                throw PlotError.cannotWrite(path: path, reason: "cannot create folder '\(dir.path)': \(Canvas.reason(error))")
            }
        }
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp").path
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw PlotError.cannotWrite(path: path, reason: "cannot create a file in '\(dir.path)': \(String(cString: strerror(errno)))")
        }
        var failure: String? = nil
        do { failure = try body(fd) } catch { close(fd); unlink(tmp); throw error }
        if failure == nil && fsync(fd) != 0 && errno != EINVAL { failure = String(cString: strerror(errno)) }
        if close(fd) != 0 && failure == nil { failure = String(cString: strerror(errno)) }
        if failure == nil && rename(tmp, url.path) != 0 { failure = String(cString: strerror(errno)) }
        if let f = failure {
            unlink(tmp)
            throw PlotError.cannotWrite(path: path, reason: f)
        }
    }

    static func reason(_ e: Error) -> String {
        let ns = e as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(u.code)))
        }
        return ns.localizedDescription
    }
}

/// A PNG read back with Cairo: 8-bit RGBA pixels, for tests and for drawing user images.
public struct RasterImage {
    public let width: Int, height: Int
    /// Row-major RGBA bytes, not premultiplied.
    public let rgba: [UInt8]

    public static func read(_ path: String) throws -> RasterImage {
        guard FileManager.default.fileExists(atPath: path) else { throw PlotError.cannotRead(path: path, reason: "no such file") }
        guard let s = cairo_image_surface_create_from_png(path) else { throw PlotError.cannotRead(path: path, reason: "cairo returned no surface") }
        defer { cairo_surface_destroy(s) }
        let st = cairo_surface_status(s)
        guard st == CAIRO_STATUS_SUCCESS else { throw PlotError.cannotRead(path: path, reason: String(cString: cairo_status_to_string(st))) }
        cairo_surface_flush(s)
        let w = Int(cairo_image_surface_get_width(s)), h = Int(cairo_image_surface_get_height(s))
        let fmt = cairo_image_surface_get_format(s)
        guard fmt == CAIRO_FORMAT_ARGB32 || fmt == CAIRO_FORMAT_RGB24, let base = cairo_image_surface_get_data(s) else {
            throw PlotError.cannotRead(path: path, reason: "unsupported pixel format \(fmt.rawValue)")
        }
        let stride = Int(cairo_image_surface_get_stride(s))
        var out = [UInt8](repeating: 0, count: w * h * 4)
        for y in 0..<h {
            let row = UnsafeRawPointer(base + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0..<w {
                let p = row[x]
                let a = fmt == CAIRO_FORMAT_RGB24 ? 255 : Int(p >> 24)
                func un(_ c: UInt32) -> UInt8 { a == 0 ? 0 : UInt8(min(255, (Int(c & 0xFF) * 255 + a / 2) / a)) }
                let o = (y * w + x) * 4
                out[o] = un(p >> 16); out[o + 1] = un(p >> 8); out[o + 2] = un(p); out[o + 3] = UInt8(a)
            }
        }
        return RasterImage(width: w, height: h, rgba: out)
    }

    /// The pixel at (x, y) as RGBA bytes; nil outside the image.
    public func pixel(_ x: Int, _ y: Int) -> (r: UInt8, g: UInt8, b: UInt8, a: UInt8)? {
        guard x >= 0, y >= 0, x < width, y < height else { return nil }
        let o = (y * width + x) * 4
        return (rgba[o], rgba[o + 1], rgba[o + 2], rgba[o + 3])
    }

    /// The pixel at a point in pixel coordinates (e.g. a region's centre).
    public func pixel(at x: Double, _ y: Double) -> (r: UInt8, g: UInt8, b: UInt8, a: UInt8)? {
        pixel(Int(x.rounded(.down)), Int(y.rounded(.down)))
    }
}
