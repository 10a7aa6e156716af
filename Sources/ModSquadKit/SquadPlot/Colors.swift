// Colours and colour maps: Blues, viridis, a red-blue diverging map, grays, and categorical palettes.
import Foundation

public struct Color: Equatable, Sendable, CustomStringConvertible {
    public var r: Double, g: Double, b: Double, a: Double
    public init(r: Double, g: Double, b: Double, a: Double = 1) { self.r = r; self.g = g; self.b = b; self.a = a }
    /// From 0xRRGGBB.
    public init(hex: UInt32, alpha: Double = 1) {
        r = Double((hex >> 16) & 0xFF) / 255; g = Double((hex >> 8) & 0xFF) / 255; b = Double(hex & 0xFF) / 255; a = alpha
    }
    public func with(alpha: Double) -> Color { Color(r: r, g: g, b: b, a: alpha) }
    /// Relative luminance (sRGB weights), to pick readable text on a fill.
    public var luminance: Double { 0.2126 * r + 0.7152 * g + 0.0722 * b }
    /// 8-bit channels as written to a PNG.
    public var bytes: (r: UInt8, g: UInt8, b: UInt8) {
        func q(_ x: Double) -> UInt8 { UInt8((min(max(x, 0), 1) * 255).rounded()) }
        return (q(r), q(g), q(b))
    }
    /// `self` painted over `under` with opacity `alpha`.
    public func over(_ under: Color, alpha: Double) -> Color {
        Color(r: alpha * r + (1 - alpha) * under.r, g: alpha * g + (1 - alpha) * under.g, b: alpha * b + (1 - alpha) * under.b)
    }
    public var description: String {
        let b = bytes
        return String(format: "#%02x%02x%02x", b.r, b.g, b.b)
    }

    public static let white = Color(r: 1, g: 1, b: 1)
    public static let black = Color(r: 0, g: 0, b: 0)
    /// Text and axis colour.
    public static let ink = Color(hex: 0x222222)
    public static let mutedInk = Color(hex: 0x555555)
    public static let grid = Color(hex: 0xE4E4E4)
    public static let frame = Color(hex: 0x9A9A9A)
    public static let good = Color(hex: 0x1A7F37)
    public static let bad = Color(hex: 0xC62828)
}

/// A continuous colour map: evenly spaced stops, linearly interpolated in sRGB (as matplotlib's).
public struct ColorMap: Sendable {
    public let name: String
    public let stops: [Color]
    public init(name: String, stops: [Color]) { self.name = name; self.stops = stops }

    /// The colour at t ∈ [0, 1] (clamped; NaN gives light gray).
    public func color(_ t: Double) -> Color {
        guard t.isFinite else { return Color(hex: 0xDDDDDD) }
        guard stops.count > 1 else { return stops.first ?? .black }
        let x = min(max(t, 0), 1) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2), f = x - Double(i)
        let a = stops[i], b = stops[i + 1]
        return Color(r: a.r + (b.r - a.r) * f, g: a.g + (b.g - a.g) * f, b: a.b + (b.b - a.b) * f)
    }

    /// The colour of `v` on the scale [lo, hi].
    public func color(_ v: Double, lo: Double, hi: Double) -> Color {
        hi > lo ? color((v - lo) / (hi - lo)) : color(v >= hi ? 1 : 0)
    }

    /// ColorBrewer / matplotlib 'Blues': near white to dark navy.
    public static let blues = ColorMap(name: "Blues", stops: [0xF7FBFF, 0xDEEBF7, 0xC6DBEF, 0x9ECAE1, 0x6BAED6,
                                                              0x4292C6, 0x2171B5, 0x08519C, 0x08306B].map { Color(hex: $0) })
    /// matplotlib 'viridis', sampled at 11 points.
    public static let viridis = ColorMap(name: "viridis", stops: [0x440154, 0x482475, 0x414487, 0x355F8D, 0x2A788E, 0x21918C,
                                                                  0x22A884, 0x44BF70, 0x7AD151, 0xBDDF26, 0xFDE725].map { Color(hex: $0) })
    /// ColorBrewer 'RdBu' reversed: blue (low) through white to red (high); centre it on 0 with a symmetric range.
    public static let diverging = ColorMap(name: "RdBu_r", stops: [0x053061, 0x2166AC, 0x4393C3, 0x92C5DE, 0xD1E5F0, 0xF7F7F7,
                                                                   0xFDDBC7, 0xF4A582, 0xD6604D, 0xB2182B, 0x67001F].map { Color(hex: $0) })
    public static let grays = ColorMap(name: "gray", stops: [.black, .white])

    public static let all: [ColorMap] = [.blues, .viridis, .diverging, .grays]
    /// A map by name ("Blues", "viridis", "RdBu_r" or "diverging", "gray"), case-insensitive.
    public static func named(_ n: String) -> ColorMap? {
        let k = n.lowercased()
        if k == "diverging" || k == "rdbu" { return .diverging }
        return all.first { $0.name.lowercased() == k }
    }
}

public enum Palette {
    /// matplotlib tab10, then the light half of tab20.
    static let base: [UInt32] = [0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD, 0x8C564B, 0xE377C2, 0x7F7F7F, 0xBCBD22, 0x17BECF,
                                 0xAEC7E8, 0xFFBB78, 0x98DF8A, 0xFF9896, 0xC5B0D5, 0xC49C94, 0xF7B6D2, 0xC7C7C7, 0xDBDB8D, 0x9EDAE5]

    /// The i-th categorical colour (experts, runs, classes): tab10, tab20's light half, then golden-angle hues.
    public static func categorical(_ i: Int) -> Color {
        let i = max(i, 0)
        if i < base.count { return Color(hex: base[i]) }
        let h = (Double(i - base.count) * 0.618033988749895).truncatingRemainder(dividingBy: 1)
        return hsv(h, s: i % 2 == 0 ? 0.65 : 0.45, v: i % 3 == 0 ? 0.75 : 0.9)
    }

    static func hsv(_ h: Double, s: Double, v: Double) -> Color {
        let c = v * s, hp = h * 6, x = c * (1 - abs(hp.truncatingRemainder(dividingBy: 2) - 1)), m = v - c
        let (r, g, b): (Double, Double, Double)
        switch Int(hp) % 6 {
        case 0: (r, g, b) = (c, x, 0)
        case 1: (r, g, b) = (x, c, 0)
        case 2: (r, g, b) = (0, c, x)
        case 3: (r, g, b) = (0, x, c)
        case 4: (r, g, b) = (x, 0, c)
        default: (r, g, b) = (c, 0, x)
        }
        return Color(r: r + m, g: g + m, b: b + m)
    }

    /// Readable text colour on a fill.
    public static func textColor(on fill: Color) -> Color { fill.luminance < 0.5 ? .white : .ink }
}
