// Procedural scenes: random scene descriptions and an analytic ray caster that renders every label of one scene.
import Foundation
import SquadTensor

/// The shape classes of scene objects (segmentation class = rawValue + 1; 0 is background).
public enum SceneShape: Int, CaseIterable, Sendable {
    case sphere = 0, box, cylinder, cone, pyramid
    public var name: String { ["sphere", "box", "cylinder", "cone", "pyramid"][rawValue] }
}

/// One object resting on the floor. World frame = camera frame: x right, y up, z forward (away from the camera).
public struct SceneObject: Equatable, Sendable {
    public var shape: SceneShape
    public var center: SIMD3<Float>
    /// Half extents: sphere radius in x; box x, y, z; cylinder, cone, pyramid radius (half base) in x, half height in y.
    public var half: SIMD3<Float>
    /// Rotation about the vertical axis, radians.
    public var angle: Float
    public var color: SIMD3<Float>
    public var color2: SIMD3<Float>
    /// 0 solid, 1 horizontal stripes, 2 3-D checker.
    public var pattern: Int
    public var frequency: Float
    public var phase: Float

    public init(shape: SceneShape, center: SIMD3<Float>, half: SIMD3<Float>, angle: Float = 0,
                color: SIMD3<Float> = [0.8, 0.3, 0.2], color2: SIMD3<Float> = [0.4, 0.15, 0.1],
                pattern: Int = 0, frequency: Float = 3, phase: Float = 0) {
        self.shape = shape; self.center = center; self.half = half; self.angle = angle
        self.color = color; self.color2 = color2; self.pattern = pattern; self.frequency = frequency; self.phase = phase
    }

    /// 3-D keypoints in object space (corners, apexes, rim points).
    var localKeypoints: [SIMD3<Float>] {
        let (x, y, z) = (half.x, half.y, half.z)
        switch shape {
        case .sphere: return [[0, x, 0]]
        case .box: return [[-x, -y, -z], [x, -y, -z], [-x, y, -z], [x, y, -z], [-x, -y, z], [x, -y, z], [-x, y, z], [x, y, z]]
        case .cylinder: return [[x, y, 0], [-x, y, 0], [0, y, x], [0, y, -x], [x, -y, 0], [-x, -y, 0]]
        case .cone: return [[0, y, 0], [x, -y, 0], [-x, -y, 0], [0, -y, x], [0, -y, -x]]
        case .pyramid: return [[0, y, 0], [x, -y, x], [-x, -y, x], [x, -y, -x], [-x, -y, -x]]
        }
    }

    /// Radius of the footprint on the floor (for placement without overlap).
    var footprint: Float {
        switch shape {
        case .sphere, .cylinder, .cone: return half.x
        case .box: return (half.x * half.x + half.z * half.z).squareRoot()
        case .pyramid: return half.x * 1.4143
        }
    }
}

/// Everything that decides one scene: objects, light and background.
public struct SceneDescription: Equatable, Sendable {
    public var objects: [SceneObject]
    /// Unit vector toward the light (world frame).
    public var light: SIMD3<Float>
    public var ambient: Float
    public var floorColors: (SIMD3<Float>, SIMD3<Float>)
    public var floorScale: Float
    public var floorOffset: SIMD2<Float>
    public var wallColors: (SIMD3<Float>, SIMD3<Float>)
    public var wallStripes: Float      // 0: plain wall
    public var shadows: Bool

    public static func == (a: SceneDescription, b: SceneDescription) -> Bool {
        a.objects == b.objects && a.light == b.light && a.ambient == b.ambient && a.floorColors == b.floorColors
            && a.floorScale == b.floorScale && a.floorOffset == b.floorOffset && a.wallColors == b.wallColors
            && a.wallStripes == b.wallStripes && a.shadows == b.shadows
    }

    /// A random scene with `objects` objects (fewer when placement without overlap fails).
    public static func random(_ rng: inout RNG, objects range: ClosedRange<Int>) -> SceneDescription {
        func u(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * rng.uniform() }
        func hsv(_ h: Float, _ s: Float, _ v: Float) -> SIMD3<Float> {
            let k = SIMD3<Float>(5, 3, 1) + SIMD3(repeating: h * 6)
            var out = SIMD3<Float>()
            for i in 0..<3 {
                let m = k[i].truncatingRemainder(dividingBy: 6)
                out[i] = v - v * s * max(0, min(min(m, 4 - m), 1))
            }
            return out
        }
        let az = u(-1.0, 1.0), el = u(0.45, 1.2)
        let light = SIMD3<Float>(sin(az) * cos(el), sin(el), -cos(az) * cos(el))
        let fg = hsv(u(0.05, 0.15), u(0.1, 0.4), u(0.45, 0.75))
        let wallHue = u(0, 1)
        var d = SceneDescription(objects: [], light: light, ambient: u(0.2, 0.4),
                                 floorColors: (fg, fg * u(0.55, 0.8)), floorScale: u(0.6, 1.3), floorOffset: [u(0, 2), u(0, 2)],
                                 wallColors: (hsv(wallHue, u(0.05, 0.3), u(0.7, 0.95)), hsv(wallHue, u(0.05, 0.3), u(0.5, 0.7))),
                                 wallStripes: rng.uniform() < 0.5 ? 0 : u(0.25, 0.6), shadows: true)
        let n = range.lowerBound + rng.int(below: max(1, range.upperBound - range.lowerBound + 1))
        var tries = 0
        while d.objects.count < n && tries < 40 * n {
            tries += 1
            let shape = SceneShape(rawValue: rng.int(below: SceneShape.allCases.count))!
            var half: SIMD3<Float>
            switch shape {
            case .sphere: let r = u(0.35, 0.8); half = [r, r, r]
            case .box: half = [u(0.3, 0.75), u(0.3, 0.85), u(0.3, 0.75)]
            case .cylinder: let r = u(0.3, 0.6); half = [r, u(0.35, 0.9), r]
            case .cone: let r = u(0.35, 0.7); half = [r, u(0.4, 0.9), r]
            case .pyramid: let r = u(0.35, 0.7); half = [r, u(0.4, 0.9), r]
            }
            let z = u(2.2, 6.5)
            let reach = z / SceneRenderer.focal - 0.4 * half.x
            let x = u(-reach, reach)
            var o = SceneObject(shape: shape, center: [x, -1 + half.y, z], half: half, angle: u(0, Float.pi),
                                pattern: rng.int(below: 3), frequency: u(2.5, 4.5) / max(half.x, half.y), phase: u(0, 1))
            let hue = u(0, 1)
            o.color = hsv(hue, u(0.45, 0.9), u(0.6, 1.0))
            o.color2 = rng.uniform() < 0.5 ? o.color * 0.45 : hsv((hue + u(0.25, 0.75)).truncatingRemainder(dividingBy: 1), u(0.45, 0.9), u(0.6, 1.0))
            let clear = d.objects.allSatisfy { p in
                let dx = p.center.x - o.center.x, dz = p.center.z - o.center.z
                return (dx * dx + dz * dz).squareRoot() > p.footprint + o.footprint + 0.05
            }
            if clear { d.objects.append(o) }
        }
        return d
    }
}

/// Every map of one rendered scene, S×S, row-major; channels planar.
public struct SceneMaps {
    public let size: Int
    /// RGB image = albedo × shading, [3·S·S] in [0, 1].
    public var image: [Float]
    public var albedo: [Float]
    /// Shading without albedo (reshading), [S·S].
    public var shading: [Float]
    /// z of the visible surface (world units, the wall is at `SceneRenderer.wall`).
    public var depth: [Float]
    /// Unit normals, camera frame (x right, y up, z toward the camera), [3·S·S].
    public var normal: [Float]
    /// Object index per pixel; -1 floor, -2 wall.
    public var instance: [Int32]
    /// Segmentation class: 0 background, 1 + SceneShape.rawValue for objects.
    public var segment: [UInt8]
    public var occlusionEdges: [Float]
    public var textureEdges: [Float]
    public var keypoints: [Float]
    /// Objects with at least one visible pixel.
    public var count: Int
    /// The shape class (SceneShape.rawValue) covering most pixels.
    public var dominantShape: Int
}

/// An analytic ray caster for scene descriptions (one per thread; it reuses its buffers).
public final class SceneRenderer {
    public static let focal: Float = 1.8
    public static let wall: Float = 12
    static let floorY: Float = -1
    public let size: Int
    var textureId: [Int32]

    public init(size: Int) {
        self.size = size
        textureId = [Int32](repeating: 0, count: size * size)
    }

    // Object in a form for fast ray tests: rotation, camera origin in object space.
    struct Prepared {
        var shape: Int32
        var cx, cy, cz, c, s: Float
        var hx, hy, hz: Float
        var ox, oy, oz: Float      // camera origin in object space
        var planes: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)  // pyramid faces n·p ≤ w
    }

    static func prepare(_ o: SceneObject) -> Prepared {
        let c = cos(o.angle), s = sin(o.angle)
        let px = -o.center.x, py = -o.center.y, pz = -o.center.z
        var list: [SIMD4<Float>] = []
        let a = o.half.x, h = o.half.y
        for n in [SIMD3<Float>(2 * h, a, 0), SIMD3(-2 * h, a, 0), SIMD3(0, a, 2 * h), SIMD3(0, a, -2 * h)] {
            let l = max((n * n).sum().squareRoot(), 1e-12)
            list.append(SIMD4(n.x / l, n.y / l, n.z / l, a * h / l))
        }
        list.append(SIMD4(0, -1, 0, h))
        let planes = (list[0], list[1], list[2], list[3], list[4])
        return Prepared(shape: Int32(o.shape.rawValue), cx: o.center.x, cy: o.center.y, cz: o.center.z, c: c, s: s,
                        hx: o.half.x, hy: o.half.y, hz: o.half.z,
                        ox: c * px - s * pz, oy: py, oz: s * px + c * pz, planes: planes)
    }

    /// Nearest hit t > tMin of a ray (o, d) in object space, with its object-space normal; t = ∞ on a miss.
    @inline(__always)
    static func intersect(_ p: Prepared, _ ox: Float, _ oy: Float, _ oz: Float, _ dx: Float, _ dy: Float, _ dz: Float,
                          _ tMin: Float) -> (Float, Float, Float, Float) {
        let miss: (Float, Float, Float, Float) = (.infinity, 0, 0, 0)
        switch p.shape {
        case 0: // sphere
            let r = p.hx
            let a = dx * dx + dy * dy + dz * dz, b = ox * dx + oy * dy + oz * dz, cc = ox * ox + oy * oy + oz * oz - r * r
            let disc = b * b - a * cc
            if disc < 0 { return miss }
            let q = disc.squareRoot()
            var t = (-b - q) / a
            if t <= tMin { t = (-b + q) / a; if t <= tMin { return miss } }
            return (t, (ox + t * dx) / r, (oy + t * dy) / r, (oz + t * dz) / r)
        case 1: // box: slabs
            var tNear = -Float.infinity, tFar = Float.infinity, axis = 0, sign: Float = 0
            let o3 = (ox, oy, oz), d3 = (dx, dy, dz), h3 = (p.hx, p.hy, p.hz)
            for k in 0..<3 {
                let o = k == 0 ? o3.0 : (k == 1 ? o3.1 : o3.2)
                let d = k == 0 ? d3.0 : (k == 1 ? d3.1 : d3.2)
                let h = k == 0 ? h3.0 : (k == 1 ? h3.1 : h3.2)
                if d == 0 { if o < -h || o > h { return miss }; continue }
                let inv = 1 / d
                var t0 = (-h - o) * inv, t1 = (h - o) * inv
                var sg: Float = -1
                if t0 > t1 { swap(&t0, &t1); sg = 1 }
                if t0 > tNear { tNear = t0; axis = k; sign = sg }
                if t1 < tFar { tFar = t1 }
                if tNear > tFar { return miss }
            }
            if tNear <= tMin { return miss }
            return (tNear, axis == 0 ? sign : 0, axis == 1 ? sign : 0, axis == 2 ? sign : 0)
        case 2: // capped cylinder, axis y
            let r = p.hx, h = p.hy
            var best = Float.infinity, nx: Float = 0, ny: Float = 0, nz: Float = 0
            let a = dx * dx + dz * dz
            if a > 1e-12 {
                let b = ox * dx + oz * dz, cc = ox * ox + oz * oz - r * r
                let disc = b * b - a * cc
                if disc >= 0 {
                    let t = (-b - disc.squareRoot()) / a
                    let y = oy + t * dy
                    if t > tMin && y >= -h && y <= h { best = t; nx = (ox + t * dx) / r; nz = (oz + t * dz) / r }
                }
            }
            if dy != 0 {
                for cap in 0..<2 {
                    let capY = cap == 0 ? h : -h
                    let t = (capY - oy) / dy
                    if t > tMin && t < best {
                        let x = ox + t * dx, z = oz + t * dz
                        if x * x + z * z <= r * r { best = t; nx = 0; ny = capY > 0 ? 1 : -1; nz = 0 }
                    }
                }
            }
            return best.isFinite ? (best, nx, ny, nz) : miss
        case 3: // cone: apex at +h, base radius r at -h
            let r = p.hx, h = p.hy, k = r / (2 * h), k2 = k * k
            var best = Float.infinity, nx: Float = 0, ny: Float = 0, nz: Float = 0
            let oY = h - oy, dY = -dy
            let a = dx * dx + dz * dz - k2 * dY * dY
            let b = ox * dx + oz * dz - k2 * oY * dY
            let cc = ox * ox + oz * oz - k2 * oY * oY
            func side(_ t: Float) {
                guard t > tMin && t < best else { return }
                let Y = oY + t * dY
                if Y >= 0 && Y <= 2 * h {
                    let x = ox + t * dx, z = oz + t * dz
                    let gx = x, gy = k2 * Y, gz = z
                    let l = (gx * gx + gy * gy + gz * gz).squareRoot()
                    if l > 0 { best = t; nx = gx / l; ny = gy / l; nz = gz / l }
                }
            }
            if Swift.abs(a) > 1e-9 {
                let disc = b * b - a * cc
                if disc >= 0 {
                    let q = disc.squareRoot()
                    side((-b - q) / a); side((-b + q) / a)
                }
            } else if Swift.abs(b) > 1e-12 {
                side(-cc / (2 * b))
            }
            if dy != 0 {
                let t = (-h - oy) / dy
                if t > tMin && t < best {
                    let x = ox + t * dx, z = oz + t * dz
                    if x * x + z * z <= r * r { best = t; nx = 0; ny = -1; nz = 0 }
                }
            }
            return best.isFinite ? (best, nx, ny, nz) : miss
        default: // pyramid: convex polyhedron
            var tNear = -Float.infinity, tFar = Float.infinity
            var nx: Float = 0, ny: Float = 0, nz: Float = 0
            for j in 0..<5 {
                let pl = j == 0 ? p.planes.0 : j == 1 ? p.planes.1 : j == 2 ? p.planes.2 : j == 3 ? p.planes.3 : p.planes.4
                let denom = pl.x * dx + pl.y * dy + pl.z * dz
                let dist = pl.w - (pl.x * ox + pl.y * oy + pl.z * oz)
                if denom == 0 { if dist < 0 { return miss }; continue }
                let t = dist / denom
                if denom < 0 { if t > tNear { tNear = t; nx = pl.x; ny = pl.y; nz = pl.z } } else if t < tFar { tFar = t }
                if tNear > tFar { return miss }
            }
            if tNear <= tMin || !tNear.isFinite { return miss }
            return (tNear, nx, ny, nz)
        }
    }

    /// World ray (origin o, direction d) into object space.
    @inline(__always) static func toLocal(_ p: Prepared, _ x: Float, _ y: Float, _ z: Float) -> (Float, Float, Float) {
        (p.c * x - p.s * z, y, p.s * x + p.c * z)
    }

    /// Renders every map of a scene.
    public func render(_ scene: SceneDescription) -> SceneMaps {
        let prepared = scene.objects.map(SceneRenderer.prepare)
        return prepared.withUnsafeBufferPointer { objs in renderPrepared(scene, objs) }
    }

    func renderPrepared(_ scene: SceneDescription, _ objs: UnsafeBufferPointer<Prepared>) -> SceneMaps {
        let S = size, n = S * S
        var m = SceneMaps(size: S, image: [Float](repeating: 0, count: 3 * n), albedo: [Float](repeating: 0, count: 3 * n),
                          shading: [Float](repeating: 0, count: n), depth: [Float](repeating: 0, count: n),
                          normal: [Float](repeating: 0, count: 3 * n), instance: [Int32](repeating: 0, count: n),
                          segment: [UInt8](repeating: 0, count: n), occlusionEdges: [Float](repeating: 0, count: n),
                          textureEdges: [Float](repeating: 0, count: n), keypoints: [Float](repeating: 0, count: n),
                          count: 0, dominantShape: 0)
        let f = SceneRenderer.focal, W = SceneRenderer.wall, floorY = SceneRenderer.floorY
        let L = scene.light
        for r in 0..<S {
            let v = 1 - (Float(r) + 0.5) / Float(S) * 2
            for col in 0..<S {
                let u = (Float(col) + 0.5) / Float(S) * 2 - 1
                let dx = u / f, dy = v / f, dz: Float = 1
                let px = r * S + col
                // background: floor (y = floorY) or wall (z = W)
                var t = W, hit: Int32 = -2, nx: Float = 0, ny: Float = 0, nz: Float = -1
                if dy < 0 { let tf = floorY / dy; if tf < W { t = tf; hit = -1; nx = 0; ny = 1; nz = 0 } }
                var lx: Float = 0, ly: Float = 0, lz: Float = 0
                for (i, o) in objs.enumerated() {
                    let (ox, oy, oz) = (o.ox, o.oy, o.oz)
                    let (ddx, ddy, ddz) = SceneRenderer.toLocal(o, dx, dy, dz)
                    let (ti, ax, ay, az) = SceneRenderer.intersect(o, ox, oy, oz, ddx, ddy, ddz, 1e-4)
                    if ti < t {
                        t = ti; hit = Int32(i)
                        // local normal back to world: inverse of toLocal's rotation
                        nx = o.c * ax + o.s * az; ny = ay; nz = -o.s * ax + o.c * az
                        lx = ox + ti * ddx; ly = oy + ti * ddy; lz = oz + ti * ddz
                    }
                }
                let wx = t * dx, wy = t * dy, wz = t * dz
                var albedo: SIMD3<Float>, tex: Int32
                switch hit {
                case -1:
                    let parity = (Int(floor((wx + scene.floorOffset.x) * scene.floorScale)) + Int(floor((wz + scene.floorOffset.y) * scene.floorScale))) & 1
                    albedo = parity == 0 ? scene.floorColors.0 : scene.floorColors.1; tex = Int32(1000 + parity)
                case -2:
                    let parity = scene.wallStripes > 0 ? Int(floor(wx * scene.wallStripes + 100)) & 1 : 0
                    albedo = parity == 0 ? scene.wallColors.0 : scene.wallColors.1; tex = Int32(2000 + parity)
                default:
                    let o = scene.objects[Int(hit)]
                    var parity = 0
                    switch o.pattern {
                    case 1: parity = Int(floor((ly + o.phase) * o.frequency + 100)) & 1
                    case 2: parity = (Int(floor(lx * o.frequency + 100)) + Int(floor((ly + o.phase) * o.frequency + 100)) + Int(floor(lz * o.frequency + 100))) & 1
                    default: parity = 0
                    }
                    albedo = parity == 0 ? o.color : o.color2; tex = hit * 2 + Int32(parity)
                }
                // shading with a shadow ray toward the light
                var lambert = max(0, nx * L.x + ny * L.y + nz * L.z)
                if lambert > 0 && scene.shadows {
                    let sx = wx + 1e-3 * nx, sy = wy + 1e-3 * ny, sz = wz + 1e-3 * nz
                    for (i, o) in objs.enumerated() where Int32(i) != hit {
                        let (ox, oy, oz) = SceneRenderer.toLocal(o, sx - o.cx, sy - o.cy, sz - o.cz)
                        let (ddx, ddy, ddz) = SceneRenderer.toLocal(o, L.x, L.y, L.z)
                        if SceneRenderer.intersect(o, ox, oy, oz, ddx, ddy, ddz, 1e-4).0.isFinite { lambert = 0; break }
                    }
                }
                let shade = scene.ambient + (1 - scene.ambient) * lambert
                m.shading[px] = shade
                m.depth[px] = wz
                m.normal[px] = nx; m.normal[n + px] = ny; m.normal[2 * n + px] = -nz
                m.instance[px] = hit
                m.segment[px] = hit >= 0 ? UInt8(scene.objects[Int(hit)].shape.rawValue + 1) : 0
                textureId[px] = tex
                for ch in 0..<3 {
                    m.albedo[ch * n + px] = albedo[ch]
                    m.image[ch * n + px] = min(1, albedo[ch] * shade)
                }
            }
        }
        edges(&m)
        keypoints(scene, objs, &m)
        // count and dominant shape from the visible pixels
        var perObject = [Int](repeating: 0, count: scene.objects.count), perShape = [Int](repeating: 0, count: SceneShape.allCases.count)
        for px in 0..<n where m.instance[px] >= 0 {
            perObject[Int(m.instance[px])] += 1
            perShape[scene.objects[Int(m.instance[px])].shape.rawValue] += 1
        }
        m.count = perObject.filter { $0 > 0 }.count
        m.dominantShape = perShape.indices.max { perShape[$0] < perShape[$1] || (perShape[$0] == perShape[$1] && $0 > $1) } ?? 0
        return m
    }

    /// Occlusion edges: a 4-neighbour is another instance and one of the two is an object.
    /// Texture edges: a 4-neighbour is the same instance with another texture value.
    func edges(_ m: inout SceneMaps) {
        let S = size
        for r in 0..<S {
            for c in 0..<S {
                let px = r * S + c, a = m.instance[px], ta = textureId[px]
                var occ: Float = 0, tx: Float = 0
                for k in 0..<4 {
                    let rr = r + (k == 0 ? -1 : k == 1 ? 1 : 0), cc = c + (k == 2 ? -1 : k == 3 ? 1 : 0)
                    if rr < 0 || rr >= S || cc < 0 || cc >= S { continue }
                    let q = rr * S + cc, b = m.instance[q]
                    if b != a { if a >= 0 || b >= 0 { occ = 1 } } else if textureId[q] != ta { tx = 1 }
                }
                m.occlusionEdges[px] = occ; m.textureEdges[px] = tx
            }
        }
    }

    /// Heatmap of visible 3-D keypoints: a Gaussian (σ ≈ S/40 px) at each projected point not hidden by a nearer surface.
    func keypoints(_ scene: SceneDescription, _ objs: UnsafeBufferPointer<Prepared>, _ m: inout SceneMaps) {
        let S = size, f = SceneRenderer.focal
        let sigma = max(0.6, Float(S) / 40), reach = Int(ceil(3 * sigma))
        for (i, o) in scene.objects.enumerated() {
            let p = objs[i]
            for k in o.localKeypoints {
                // object space -> world: rotation inverse of toLocal, then translate
                let wx = p.c * k.x + p.s * k.z + o.center.x, wy = k.y + o.center.y, wz = -p.s * k.x + p.c * k.z + o.center.z
                guard wz > 0.1 else { continue }
                let col = (wx * f / wz + 1) / 2 * Float(S) - 0.5, row = (1 - wy * f / wz) / 2 * Float(S) - 0.5
                let ci = Int(col.rounded()), ri = Int(row.rounded())
                guard ri >= 0 && ri < S && ci >= 0 && ci < S else { continue }
                // hidden when the visible surface at its pixel is clearly nearer
                if m.depth[ri * S + ci] < wz - 0.15 { continue }
                for rr in max(0, ri - reach)...min(S - 1, ri + reach) {
                    for cc in max(0, ci - reach)...min(S - 1, ci + reach) {
                        let d2 = (Float(rr) - row) * (Float(rr) - row) + (Float(cc) - col) * (Float(cc) - col)
                        let g = exp(-d2 / (2 * sigma * sigma))
                        if g > m.keypoints[rr * S + cc] { m.keypoints[rr * S + cc] = g }
                    }
                }
            }
        }
    }
}
