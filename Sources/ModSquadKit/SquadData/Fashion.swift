// Fashion-MNIST (IDX files of the Debian package dataset-fashion-mnist) as a multi-task set, and MultiFashion (two items side by side).
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

/// The raw Fashion-MNIST arrays (28×28 u8 images, class labels), loaded once per folder.
public final class FashionMNIST {
    public static let defaultFolder = "/usr/share/datasets/fashion-mnist"
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    public static let groupNames = ["tops", "bottoms and dresses", "footwear", "bags"]
    /// Coarse group of each class: tops (T-shirt, pullover, coat, shirt), bottoms and dresses, footwear, bags.
    public static let groupOf = [0, 1, 0, 1, 0, 2, 0, 2, 3, 2]
    public static let side = 28

    public let folder: URL
    public let trainImages: [UInt8], trainLabels: [UInt8], testImages: [UInt8], testLabels: [UInt8]

    public func images(_ s: DataSplit) -> [UInt8] { s == .train ? trainImages : testImages }
    public func labels(_ s: DataSplit) -> [UInt8] { s == .train ? trainLabels : testLabels }
    public func count(_ s: DataSplit) -> Int { labels(s).count }

    nonisolated(unsafe) private static var loaded: [String: FashionMNIST] = [:]
    private static let lock = NSLock()

    /// Loads (or returns the already loaded) files of a folder: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
    public static func load(_ folder: String = defaultFolder) throws -> FashionMNIST {
        lock.lock(); defer { lock.unlock() }
        if let f = loaded[folder] { return f }
        let f = try FashionMNIST(folder: URL(fileURLWithPath: folder))
        loaded[folder] = f
        return f
    }

    init(folder: URL) throws {
        self.folder = folder
        func file(_ stem: String) throws -> URL {
            for name in [stem + ".gz", stem] {
                let u = folder.appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: u.path) { return u }
            }
            throw DataError.file(path: folder.appendingPathComponent(stem + ".gz").path, row: nil,
                                 message: "no such file (install the Debian package dataset-fashion-mnist, or pass path: to a folder with the IDX files)")
        }
        func pair(_ prefix: String) throws -> ([UInt8], [UInt8]) {
            let iu = try file("\(prefix)-images-idx3-ubyte"), lu = try file("\(prefix)-labels-idx1-ubyte")
            let im = try IDX.read(iu), lb = try IDX.read(lu)
            guard im.typeCode == 0x08, im.shape.count == 3, im.shape[1] == FashionMNIST.side, im.shape[2] == FashionMNIST.side else {
                throw DataError.file(path: iu.path, row: nil, message: "expected u8 images of shape [N, 28, 28], found type \(im.typeCode) shape \(im.shape)")
            }
            guard lb.typeCode == 0x08, lb.shape.count == 1 else {
                throw DataError.file(path: lu.path, row: nil, message: "expected u8 labels of shape [N], found type \(lb.typeCode) shape \(lb.shape)")
            }
            guard lb.shape[0] == im.shape[0] else {
                throw DataError.file(path: lu.path, row: nil, message: "has \(lb.shape[0]) labels but \(iu.lastPathComponent) has \(im.shape[0]) images")
            }
            if let bad = lb.payload.firstIndex(where: { $0 > 9 }) {
                throw DataError.file(path: lu.path, row: nil, message: "label \(lb.payload[bad]) of item \(bad) is not a class 0...9")
            }
            return (im.payload, lb.payload)
        }
        (trainImages, trainLabels) = try pair("train")
        (testImages, testLabels) = try pair("t10k")
    }

    /// Sobel gradient magnitude of a 28×28 image (values in [0, 1]), clamped to [0, 1].
    static func edges(_ img: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let s = side
        func at(_ r: Int, _ c: Int) -> Float { r < 0 || r >= s || c < 0 || c >= s ? 0 : img[r * s + c] }
        for r in 0..<s { for c in 0..<s {
            let gx = at(r - 1, c + 1) + 2 * at(r, c + 1) + at(r + 1, c + 1) - at(r - 1, c - 1) - 2 * at(r, c - 1) - at(r + 1, c - 1)
            let gy = at(r + 1, c - 1) + 2 * at(r + 1, c) + at(r + 1, c + 1) - at(r - 1, c - 1) - 2 * at(r - 1, c) - at(r - 1, c + 1)
            out[r * s + c] = min(1, (gx * gx + gy * gy).squareRoot() / 4)
        } }
    }
}

/// Fashion-MNIST multi-task: class (10), coarse group (4), reconstruction/denoising, foreground mask, edges.
public final class FashionDataset: MultiTaskDataset {
    public static let allTasks = ["class", "group", "reconstruct", "mask", "edge"]
    public static let defaultTasks = ["class", "group", "reconstruct", "mask"]
    public let name = "fashion"
    public let imageSize: Int
    public let channels = 1
    public let taskNames: [String]
    public let source: FashionMNIST
    public let noise: Float
    public let seed: UInt64
    let counts: (train: Int, test: Int)

    public var summary: String {
        "fashion \(imageSize)×\(imageSize): \(counts.train) train / \(counts.test) test, tasks \(taskNames.joined(separator: ", "))" + (noise > 0 ? ", input noise \(noise)" : "")
    }

    /// - Parameters: size 28 (native) to 64 (zero-padded, centred); `noise`: std of Gaussian noise on the
    ///   input (the reconstruct target stays clean, which makes it denoising).
    public init(folder: String = FashionMNIST.defaultFolder, train: Int = 60000, test: Int = 10000,
                tasks: [String] = FashionDataset.defaultTasks, size: Int = 28, noise: Double = 0, seed: UInt64 = 0) throws {
        try checkTasks(tasks, FashionDataset.allTasks, "fashion")
        guard (28...64).contains(size) else { throw DataError.invalid("fashion: size must be 28 (native) to 64 (padded), got \(size)") }
        guard noise >= 0, noise <= 1 else { throw DataError.invalid("fashion: noise must be within 0...1, got \(noise)") }
        source = try FashionMNIST.load(folder)
        guard train >= 0, test >= 0 else { throw DataError.invalid("fashion: sample counts must not be negative") }
        counts = (min(train, source.count(.train)), min(test, source.count(.test)))
        taskNames = tasks; imageSize = size; self.noise = Float(noise); self.seed = seed
    }

    public func count(_ split: DataSplit) -> Int { split == .train ? counts.train : counts.test }

    public func batch(_ split: DataSplit, _ indices: [Int]) throws -> (images: Tensor, targets: [String: TaskTarget]) {
        try checkIndices(indices, count: count(split), dataset: name, split: split)
        let S = imageSize, n = S * S, B = indices.count, s = FashionMNIST.side, pad = (S - s) / 2
        let clean = Tensor(zeros: [B, 1, S, S])
        let pixels = source.images(split), labels = source.labels(split)
        for (b, i) in indices.enumerated() {
            for r in 0..<s { for c in 0..<s { clean.data[b * n + (r + pad) * S + c + pad] = Float(pixels[i * s * s + r * s + c]) / 255 } }
        }
        var images = clean
        if noise > 0 {
            images = clean.copy()
            for (b, i) in indices.enumerated() {
                var rng = RNG(seed: sampleSeed(seed, split.stream, i))
                for k in 0..<n { images.data[b * n + k] = max(0, min(1, images.data[b * n + k] + noise * rng.normal())) }
            }
        }
        var targets: [String: TaskTarget] = [:]
        for t in taskNames {
            switch t {
            case "class": targets[t] = .labels(indices.map { Int(labels[$0]) })
            case "group": targets[t] = .labels(indices.map { FashionMNIST.groupOf[Int(labels[$0])] })
            case "reconstruct": targets[t] = .values(clean.copy())
            case "mask": targets[t] = .labels((0..<(B * n)).map { clean.data[$0] > 0 ? 1 : 0 })
            default: // edge
                let e = Tensor(zeros: [B, 1, S, S])
                var tmp = [Float](repeating: 0, count: s * s), out = [Float](repeating: 0, count: s * s)
                for (b, i) in indices.enumerated() {
                    for k in 0..<(s * s) { tmp[k] = Float(pixels[i * s * s + k]) / 255 }
                    FashionMNIST.edges(tmp, &out)
                    for r in 0..<s { for c in 0..<s { e.data[b * n + (r + pad) * S + c + pad] = out[r * s + c] } }
                }
                targets[t] = .values(e)
            }
        }
        return (images, targets)
    }
}

/// MultiFashion (after Sener & Koltun's MultiMNIST): two items on a 36×36 canvas, the left one at columns 0..<28 and the
/// right one at 8..<36, each at a random height, overlaid by maximum, centre-cropped to `size`.
/// Tasks: left class, right class, and per-pixel which item (0 background, 1 left, 2 right).
public final class MultiFashionDataset: MultiTaskDataset, FlipDescribing {
    public static let allTasks = ["left", "right", "which"]
    public static let canvas = 36
    /// A pixel belongs to an item when that item's intensity there exceeds this.
    public static let threshold: Float = 0.1
    public let name = "multifashion"
    public let imageSize: Int
    public let channels = 1
    public let taskNames: [String]
    public let source: FashionMNIST
    public let seed: UInt64
    let counts: (train: Int, test: Int)

    public var summary: String {
        "multifashion \(imageSize)×\(imageSize): \(counts.train) train / \(counts.test) test, tasks \(taskNames.joined(separator: ", "))"
    }

    public init(folder: String = FashionMNIST.defaultFolder, train: Int = 60000, test: Int = 10000,
                tasks: [String] = MultiFashionDataset.allTasks, size: Int = 32, seed: UInt64 = 0) throws {
        try checkTasks(tasks, MultiFashionDataset.allTasks, "multifashion")
        guard (28...36).contains(size) else { throw DataError.invalid("multifashion: size must be 28...36 (a centre crop of the 36×36 canvas), got \(size)") }
        guard train >= 0, test >= 0 else { throw DataError.invalid("multifashion: sample counts must not be negative") }
        source = try FashionMNIST.load(folder)
        guard source.count(.train) >= 2, source.count(.test) >= 2 else {
            throw DataError.file(path: source.folder.path, row: nil, message: "multifashion needs at least two items in each split to pair")
        }
        counts = (train, test)
        taskNames = tasks; imageSize = size; self.seed = seed
    }

    public func count(_ split: DataSplit) -> Int { split == .train ? counts.train : counts.test }

    /// The source items (indices into the Fashion-MNIST split) and vertical offsets of sample `index`.
    public func placement(_ split: DataSplit, _ index: Int) -> (left: Int, right: Int, leftTop: Int, rightTop: Int) {
        let n = source.count(split)
        var rng = RNG(seed: sampleSeed(seed, split.stream &+ 0x4D46, index))
        let left = rng.int(below: n)
        var right = rng.int(below: n - 1)
        if right >= left { right += 1 }
        let slack = MultiFashionDataset.canvas - FashionMNIST.side
        return (left, right, rng.int(below: slack + 1), rng.int(below: slack + 1))
    }

    public func flipRule(for task: String) -> FlipRule {
        switch task {
        case "left": return .swap(with: "right")
        case "right": return .swap(with: "left")
        default: return .mirrorRelabeling([1: 2, 2: 1])
        }
    }

    public func batch(_ split: DataSplit, _ indices: [Int]) throws -> (images: Tensor, targets: [String: TaskTarget]) {
        try checkIndices(indices, count: count(split), dataset: name, split: split)
        let S = imageSize, n = S * S, B = indices.count, s = FashionMNIST.side, C = MultiFashionDataset.canvas
        let crop = (C - S) / 2, shift = C - s
        let images = Tensor(zeros: [B, 1, S, S])
        var which = [Int](repeating: 0, count: B * n), lefts = [Int](), rights = [Int]()
        let pixels = source.images(split), labels = source.labels(split)
        var a = [Float](repeating: 0, count: C * C), bImg = [Float](repeating: 0, count: C * C)
        for (b, i) in indices.enumerated() {
            let p = placement(split, i)
            lefts.append(Int(labels[p.left])); rights.append(Int(labels[p.right]))
            for k in 0..<(C * C) { a[k] = 0; bImg[k] = 0 }
            for r in 0..<s { for c in 0..<s {
                a[(r + p.leftTop) * C + c] = Float(pixels[p.left * s * s + r * s + c]) / 255
                bImg[(r + p.rightTop) * C + c + shift] = Float(pixels[p.right * s * s + r * s + c]) / 255
            } }
            for r in 0..<S { for c in 0..<S {
                let k = (r + crop) * C + c + crop, va = a[k], vb = bImg[k]
                images.data[b * n + r * S + c] = max(va, vb)
                which[b * n + r * S + c] = max(va, vb) <= MultiFashionDataset.threshold ? 0 : (va >= vb ? 1 : 2)
            } }
        }
        var targets: [String: TaskTarget] = [:]
        for t in taskNames {
            switch t {
            case "left": targets[t] = .labels(lefts)
            case "right": targets[t] = .labels(rights)
            default: targets[t] = .labels(which)
            }
        }
        return (images, targets)
    }
}

/// Throws for an empty, repeated or unknown task list, suggesting the nearest known name.
func checkTasks(_ tasks: [String], _ known: [String], _ owner: String) throws {
    guard !tasks.isEmpty else { throw DataError.invalid("\(owner): tasks must name at least one of \(known.joined(separator: ", "))") }
    for t in tasks where !known.contains(t) {
        let near = known.min { editDistance($0, t) < editDistance($1, t) } ?? ""
        throw DataError.invalid("\(owner): unknown task '\(t)' (did you mean '\(near)'?); known: \(known.joined(separator: ", "))")
    }
    guard Set(tasks).count == tasks.count else { throw DataError.invalid("\(owner): a task is listed twice in \(tasks)") }
}
