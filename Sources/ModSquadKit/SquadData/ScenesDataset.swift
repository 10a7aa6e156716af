// The scenes dataset: samples rendered on demand in chunks, stored compactly and cached on disk by their parameters.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

/// Procedural multi-task scenes (see SceneRenderer); sample i of a split depends only on (seed, split, i, size, objects).
public final class ScenesDataset: MultiTaskDataset, FlipDescribing {
    /// Every task the scenes provide, in a fixed order.
    public static let allTasks = ["segment", "depth", "normal", "edge", "texture_edge", "keypoints", "reshade", "albedo", "count", "shape"]
    public static let defaultTasks = ["segment", "depth", "normal", "edge", "count"]
    /// Bumped whenever rendering changes, so old cache files are not reused.
    public static let generatorVersion = 1
    public static let chunkSize = 256

    public let name = "scenes"
    public let imageSize: Int
    public let channels = 3
    public let taskNames: [String]
    public let seed: UInt64
    public let objects: ClosedRange<Int>
    /// Where chunks are cached; nil keeps them in memory only.
    public let cacheFolder: URL?
    let counts: (train: Int, test: Int)
    let layout: RecordLayout
    private var chunks: [String: Data] = [:]
    private let lock = NSLock()
    /// Chunks rendered (not read from the cache) since creation; for tests and progress.
    public private(set) var renderedChunks = 0

    public var summary: String {
        "scenes \(imageSize)×\(imageSize): \(counts.train) train / \(counts.test) test, tasks \(taskNames.joined(separator: ", ")), seed \(seed)"
    }

    /// - Parameters: size 16...256 (32 to 128 intended), sample counts per split, a subset of `allTasks`,
    ///   the seed, the object count range, and whether to cache chunks under `DataCache.root/scenes`.
    public init(size: Int = 32, train: Int = 4000, test: Int = 800, tasks: [String] = ScenesDataset.defaultTasks,
                seed: UInt64 = 0, objects: ClosedRange<Int> = 2...5, cache: Bool = true, cacheRoot: URL? = nil) throws {
        guard (16...256).contains(size) else { throw DataError.invalid("scenes: size must be between 16 and 256 (32 to 128 intended), got \(size)") }
        guard train >= 0, test >= 0 else { throw DataError.invalid("scenes: sample counts must not be negative (train \(train), test \(test))") }
        guard objects.lowerBound >= 1, objects.upperBound <= 12 else { throw DataError.invalid("scenes: objects per scene must be within 1...12, got \(objects)") }
        guard !tasks.isEmpty else { throw DataError.invalid("scenes: tasks must name at least one of \(ScenesDataset.allTasks.joined(separator: ", "))") }
        for t in tasks where !ScenesDataset.allTasks.contains(t) {
            let near = ScenesDataset.allTasks.min { editDistance($0, t) < editDistance($1, t) } ?? ""
            throw DataError.invalid("scenes: unknown task '\(t)' (did you mean '\(near)'?); known: \(ScenesDataset.allTasks.joined(separator: ", "))")
        }
        guard Set(tasks).count == tasks.count else { throw DataError.invalid("scenes: a task is listed twice in \(tasks)") }
        imageSize = size; counts = (train, test); taskNames = tasks; self.seed = seed; self.objects = objects
        layout = RecordLayout(size: size, tasks: Set(tasks))
        if cache {
            let key = "scenes v\(ScenesDataset.generatorVersion) size=\(size) seed=\(seed) objects=\(objects.lowerBound)-\(objects.upperBound) tasks=\(ScenesDataset.allTasks.filter(tasks.contains).joined(separator: ","))"
            cacheFolder = (cacheRoot ?? DataCache.root).appendingPathComponent("scenes").appendingPathComponent(DataCache.hash(key))
            cacheKey = key
        } else {
            cacheFolder = nil; cacheKey = ""
        }
    }
    let cacheKey: String

    public func count(_ split: DataSplit) -> Int { split == .train ? counts.train : counts.test }

    /// The scene of sample `index` of a split (what was rendered for it).
    public func scene(_ split: DataSplit, _ index: Int) -> SceneDescription {
        var rng = RNG(seed: sampleSeed(seed, split.stream, index))
        return SceneDescription.random(&rng, objects: objects)
    }

    /// Every map of sample `index` of a split, unquantised.
    public func render(_ split: DataSplit, _ index: Int) -> SceneMaps {
        SceneRenderer(size: imageSize).render(scene(split, index))
    }

    public func flipRule(for task: String) -> FlipRule {
        switch task {
        case "normal": return .mirrorNegating(channels: [0])
        case "count", "shape": return .keep
        default: return .mirror
        }
    }

    public func batch(_ split: DataSplit, _ indices: [Int]) throws -> (images: Tensor, targets: [String: TaskTarget]) {
        try checkIndices(indices, count: count(split), dataset: name, split: split)
        let needed = Set(indices.map { $0 / ScenesDataset.chunkSize })
        let data = try loadChunks(split, needed.sorted())
        let headerLength = ScenesDataset.headerLength(cacheKey)
        let S = imageSize, n = S * S, B = indices.count
        let images = Tensor(uninitialized: [B, 3, S, S])
        var dense: [String: Tensor] = [:]
        var segLabels = taskNames.contains("segment") ? [Int](repeating: 0, count: B * n) : []
        var shapeLabels = [Int](repeating: 0, count: B)
        let countValues = Tensor(uninitialized: [B, 1])
        for t in taskNames {
            switch t {
            case "depth", "edge", "texture_edge", "keypoints", "reshade": dense[t] = Tensor(uninitialized: [B, 1, S, S])
            case "normal", "albedo": dense[t] = Tensor(uninitialized: [B, 3, S, S])
            default: break
            }
        }
        for (b, i) in indices.enumerated() {
            let chunk = data[i / ScenesDataset.chunkSize]!
            let offset = headerLength + (i % ScenesDataset.chunkSize) * layout.bytes
            chunk.withUnsafeBytes { raw in
                let rec = raw.baseAddress!.advanced(by: offset)
                layout.decodeU8(rec, "image", 3 * n, images.data + b * 3 * n)
                for (t, tensor) in dense {
                    let c = tensor.shape[1]
                    if t == "depth" || t == "normal" { layout.decodeF16(rec, t, c * n, tensor.data + b * c * n) }
                    else { layout.decodeU8(rec, t, c * n, tensor.data + b * c * n) }
                }
                if !segLabels.isEmpty, let o = layout.offsets["segment"] {
                    let p = rec.advanced(by: o).assumingMemoryBound(to: UInt8.self)
                    for k in 0..<n { segLabels[b * n + k] = Int(p[k]) }
                }
                let tail = rec.advanced(by: layout.offsets["meta"]!).assumingMemoryBound(to: UInt8.self)
                countValues.data[b] = Float(tail[0]); shapeLabels[b] = Int(tail[1])
            }
        }
        var targets: [String: TaskTarget] = [:]
        for t in taskNames {
            switch t {
            case "segment": targets[t] = .labels(segLabels)
            case "count": targets[t] = .values(countValues)
            case "shape": targets[t] = .labels(shapeLabels)
            default: targets[t] = .values(dense[t]!)
            }
        }
        return (images, targets)
    }

    // MARK: chunks

    static let magic = "MSQSCENES1\n"
    /// The chunk file header: magic and the parameter key, padded with spaces to 16 bytes so records stay aligned.
    static func header(_ key: String) -> Data {
        var text = magic + key
        while (text.utf8.count + 1) % 16 != 0 { text += " " }
        return Data((text + "\n").utf8)
    }
    static func headerLength(_ key: String) -> Int { header(key).count }

    func chunkURL(_ split: DataSplit, _ c: Int) -> URL? {
        cacheFolder?.appendingPathComponent("\(split.rawValue)-\(String(format: "%05d", c)).bin")
    }

    /// The raw records of every needed chunk: from memory, the cache, or rendered now (in parallel).
    func loadChunks(_ split: DataSplit, _ needed: [Int]) throws -> [Int: Data] {
        lock.lock(); defer { lock.unlock() }
        var out: [Int: Data] = [:], missing: [Int] = []
        let header = ScenesDataset.header(cacheKey)
        let expected = header.count + ScenesDataset.chunkSize * layout.bytes
        for c in needed {
            let k = "\(split.rawValue)-\(c)"
            if let d = chunks[k] { out[c] = d; continue }
            if let url = chunkURL(split, c), let d = try? Data(contentsOf: url, options: .alwaysMapped),
               d.count == expected, d.prefix(header.count) == header {
                chunks[k] = d; out[c] = d; continue
            }
            missing.append(c)
        }
        if missing.isEmpty { return out }
        let rendered = renderChunks(split, missing, header: header)
        for (c, d) in zip(missing, rendered) {
            chunks["\(split.rawValue)-\(c)"] = d; out[c] = d
            renderedChunks += 1
            if let url = chunkURL(split, c) {
                // A cache that cannot be written (read-only home, full disk) only costs speed.
                try? DataCache.writeAtomically(d, to: url)
            }
        }
        return out
    }

    /// Renders whole chunks, samples spread over the engine's threads (one renderer each).
    func renderChunks(_ split: DataSplit, _ list: [Int], header: Data) -> [Data] {
        let per = ScenesDataset.chunkSize, bytes = layout.bytes
        let total = list.count * per
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, total * bytes), alignment: 16)
        defer { buffer.deallocate() }
        let threads = max(1, min(Engine.threads, total))
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let renderer = SceneRenderer(size: imageSize)
            var j = t
            while j < total {
                let index = list[j / per] * per + j % per
                var rng = RNG(seed: sampleSeed(seed, split.stream, index))
                let maps = renderer.render(SceneDescription.random(&rng, objects: objects))
                layout.encode(maps, into: buffer + j * bytes)
                j += threads
            }
        }
        return list.indices.map { k in
            var d = header
            d.append(Data(bytes: buffer + k * per * bytes, count: per * bytes))
            return d
        }
    }

    /// Renders and encodes `count` samples of a split on the calling thread; returns the bytes (for speed tests).
    public func encodeSamples(_ split: DataSplit, _ range: Range<Int>) -> Data {
        let renderer = SceneRenderer(size: imageSize)
        var out = Data(count: range.count * layout.bytes)
        out.withUnsafeMutableBytes { raw in
            for (k, i) in range.enumerated() {
                var rng = RNG(seed: sampleSeed(seed, split.stream, i))
                layout.encode(renderer.render(SceneDescription.random(&rng, objects: objects)), into: raw.baseAddress! + k * layout.bytes)
            }
        }
        return out
    }
}

/// Byte layout of one stored sample: the image and the maps of the chosen tasks (u8 or f16), then count and shape.
struct RecordLayout {
    let n: Int
    var offsets: [String: Int] = [:]
    var bytes = 0

    init(size: Int, tasks: Set<String>) {
        n = size * size
        func add(_ name: String, _ b: Int) { offsets[name] = bytes; bytes += b }
        add("image", 3 * n)
        if tasks.contains("segment") { add("segment", n) }
        if tasks.contains("depth") { add("depth", 2 * n) }
        if tasks.contains("normal") { add("normal", 6 * n) }
        for t in ["edge", "texture_edge", "keypoints", "reshade"] where tasks.contains(t) { add(t, n) }
        if tasks.contains("albedo") { add("albedo", 3 * n) }
        add("meta", 2)
        bytes = (bytes + 3) / 4 * 4
    }

    @inline(__always) static func u8(_ v: Float) -> UInt8 { UInt8(max(0, min(1, v)) * 255 + 0.5) }

    func encode(_ m: SceneMaps, into rec: UnsafeMutableRawPointer) {
        func putU8(_ name: String, _ src: [Float]) {
            guard let o = offsets[name] else { return }
            let p = (rec + o).assumingMemoryBound(to: UInt8.self)
            for k in 0..<src.count { p[k] = RecordLayout.u8(src[k]) }
        }
        func putF16(_ name: String, _ src: [Float], scale: Float) {
            guard let o = offsets[name] else { return }
            let p = (rec + o).assumingMemoryBound(to: UInt16.self)
            for k in 0..<src.count { p[k] = Float16(src[k] * scale).bitPattern.littleEndian }
        }
        putU8("image", m.image)
        if let o = offsets["segment"] {
            let p = (rec + o).assumingMemoryBound(to: UInt8.self)
            for k in 0..<n { p[k] = m.segment[k] }
        }
        putF16("depth", m.depth, scale: 1 / SceneRenderer.wall)
        putF16("normal", m.normal, scale: 1)
        putU8("edge", m.occlusionEdges)
        putU8("texture_edge", m.textureEdges)
        putU8("keypoints", m.keypoints)
        putU8("reshade", m.shading)
        putU8("albedo", m.albedo)
        let meta = (rec + offsets["meta"]!).assumingMemoryBound(to: UInt8.self)
        meta[0] = UInt8(min(m.count, 255)); meta[1] = UInt8(m.dominantShape)
    }

    func decodeU8(_ rec: UnsafeRawPointer, _ name: String, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
        let p = rec.advanced(by: offsets[name]!).assumingMemoryBound(to: UInt8.self)
        for k in 0..<count { dst[k] = Float(p[k]) / 255 }
    }

    func decodeF16(_ rec: UnsafeRawPointer, _ name: String, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
        let p = rec.advanced(by: offsets[name]!).assumingMemoryBound(to: UInt16.self)
        for k in 0..<count { dst[k] = Float(Float16(bitPattern: UInt16(littleEndian: p[k]))) }
    }
}
