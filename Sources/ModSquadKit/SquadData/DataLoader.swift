// Batching: seeded shuffling per epoch, exact resume (epoch, position), horizontal flips that mirror labels, normalisation.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

/// How a task's target changes when the image is mirrored left-right.
public enum FlipRule: Equatable, Sendable {
    /// A dense map or per-pixel labels, mirrored.
    case mirror
    /// A dense map, mirrored, with these channels negated (the x component of normals).
    case mirrorNegating(channels: [Int])
    /// Per-pixel labels, mirrored, then classes renamed (left item ↔ right item).
    case mirrorRelabeling([Int: Int])
    /// A global target that does not change.
    case keep
    /// A global target exchanged with another task's (left class ↔ right class).
    case swap(with: String)
}

/// A dataset that says how each of its tasks flips. Without it dense targets are mirrored and global ones kept.
public protocol FlipDescribing {
    func flipRule(for task: String) -> FlipRule
}

/// A dataset that can name the sample (file, row) whose class label a task with `classes` classes cannot take.
public protocol LabelChecking {
    func checkLabels(task: String, classes: Int) throws
}

/// Batches of a split: seeded shuffling (reshuffled each epoch with seed + epoch), optional flips, normalised images.
public final class DataLoader {
    public let dataset: MultiTaskDataset
    public let split: DataSplit
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let augment: Bool
    public let dropLast: Bool
    /// Whether images are normalised per channel ((x − mean) / std).
    public var normalize = true
    /// Per-channel statistics; computed from the train split's first samples on the first batch unless set.
    public var normalization: (mean: [Float], std: [Float])?
    /// The next batch is batch `position` of epoch `epoch`.
    public private(set) var epoch = 0, position = 0
    /// Data-parallel: this rank's part (rank, ranks) of every batch; batchSize stays the global batch.
    public var shard: (rank: Int, size: Int)? = nil
    private var order: [Int] = []
    private var orderEpoch = -1

    public init(_ ds: MultiTaskDataset, split: DataSplit, batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0,
                augment: Bool = false, dropLast: Bool = true) {
        dataset = ds; self.split = split; self.batchSize = max(1, batchSize); self.shuffle = shuffle
        self.seed = seed; self.augment = augment; self.dropLast = dropLast
    }

    public var batchesPerEpoch: Int {
        let n = dataset.count(split)
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize
    }

    /// Moves to batch `position` of epoch `epoch` (for resuming exactly where a run stopped).
    public func seek(epoch: Int, position: Int) {
        self.epoch = max(0, epoch); self.position = max(0, position)
    }

    /// Sample indices of batch `position` of epoch `epoch`.
    public func indices(epoch e: Int, position p: Int) -> [Int] {
        if orderEpoch != e {
            let n = dataset.count(split)
            if shuffle { var rng = RNG(seed: seed &+ UInt64(e)); order = rng.permutation(n) } else { order = Array(0..<n) }
            orderEpoch = e
        }
        let lo = min(p * batchSize, order.count), hi = min(lo + batchSize, order.count)
        return Array(order[lo..<hi])
    }

    /// The next batch; after the last batch of an epoch, the first of the next (reshuffled).
    public func next() throws -> (images: Tensor, targets: [String: TaskTarget]) {
        let per = batchesPerEpoch
        guard per > 0 else {
            throw DataError.invalid("\(dataset.name): the \(split.rawValue) split has \(dataset.count(split)) samples, fewer than one batch of \(batchSize)" + (dropLast ? " (drop the last partial batch is on)" : ""))
        }
        if position >= per { epoch += position / per; position %= per }
        var idx = indices(epoch: epoch, position: position)
        // Flips are drawn for the whole global batch, then this rank keeps its shard's samples and flips.
        var mask: [Bool] = []
        if augment {
            var rng = RNG(seed: sampleSeed(seed ^ 0x666C_6970, UInt64(epoch), position))
            mask = idx.map { _ in rng.uniform() < 0.5 }
        }
        if let (r, n) = shard, n > 1 {
            guard idx.count % n == 0 else {
                throw DataError.invalid("\(dataset.name): the \(split.rawValue) batch of \(idx.count) samples is not divisible by the \(n) ranks of this run")
            }
            let per = idx.count / n
            idx = Array(idx[(r * per)..<((r + 1) * per)])
            if augment { mask = Array(mask[(r * per)..<((r + 1) * per)]) }
        }
        var (images, targets) = try dataset.batch(split, idx)
        if augment { (images, targets) = try DataLoader.flip(images, targets, mask: mask, dataset: dataset) }
        if normalize {
            if normalization == nil { normalization = try DataLoader.statistics(dataset) }
            images = try DataLoader.normalized(images, normalization!)
        }
        position += 1
        return (images, targets)
    }

    /// Per-channel mean and std over the first (up to 256) train samples (or test, when train is empty).
    public static func statistics(_ ds: MultiTaskDataset, samples: Int = 256) throws -> (mean: [Float], std: [Float]) {
        let split: DataSplit = ds.count(.train) > 0 ? .train : .test
        let n = min(samples, ds.count(split))
        guard n > 0 else { return (Array(repeating: 0, count: ds.channels), Array(repeating: 1, count: ds.channels)) }
        let images = try ds.batch(split, Array(0..<n)).images
        let c = images.shape[1], hw = images.count / max(1, n * c)
        var mean = [Float](), std = [Float]()
        for ch in 0..<c {
            var s = 0.0, s2 = 0.0
            for b in 0..<n {
                let p = images.data + (b * c + ch) * hw
                for k in 0..<hw { let v = Double(p[k]); s += v; s2 += v * v }
            }
            let m = s / Double(n * hw)
            mean.append(Float(m)); std.append(Float(max(1e-3, (max(0, s2 / Double(n * hw) - m * m)).squareRoot())))
        }
        return (mean, std)
    }

    /// (x − mean[c]) / std[c] per channel, into a new tensor. [B, C, H, W] -> [B, C, H, W]
    public static func normalized(_ images: Tensor, _ stats: (mean: [Float], std: [Float])) throws -> Tensor {
        guard images.ndim == 4, stats.mean.count == images.shape[1], stats.std.count == images.shape[1] else {
            throw DataError.invalid("normalise: images \(images.shape) do not match \(stats.mean.count) channel statistics")
        }
        let out = Tensor(uninitialized: images.shape)
        let b = images.shape[0], c = images.shape[1], hw = images.shape[2] * images.shape[3]
        for i in 0..<b { for ch in 0..<c {
            let src = images.data + (i * c + ch) * hw, dst = out.data + (i * c + ch) * hw
            let m = stats.mean[ch], inv = 1 / stats.std[ch]
            for k in 0..<hw { dst[k] = (src[k] - m) * inv }
        } }
        return out
    }

    /// Undoes the normalisation (for drawing inputs). [B, C, H, W] -> [B, C, H, W]
    public func denormalize(_ images: Tensor) throws -> Tensor {
        guard let st = normalization, normalize else { return images.copy() }
        return try DataLoader.denormalized(images, st)
    }

    /// x · std[c] + mean[c] per channel: the images as the dataset gave them. [B, C, H, W] -> [B, C, H, W]
    public static func denormalized(_ images: Tensor, _ st: (mean: [Float], std: [Float])) throws -> Tensor {
        try normalized(images, (mean: st.mean.indices.map { -st.mean[$0] / st.std[$0] }, std: st.std.map { 1 / $0 }))
    }

    // MARK: flips

    static func rule(_ ds: MultiTaskDataset, _ task: String, dense: Bool) -> FlipRule {
        if let f = ds as? FlipDescribing { return f.flipRule(for: task) }
        return dense ? .mirror : .keep
    }

    /// Mirrors the samples where `mask` is true, images and targets alike, by each task's flip rule.
    public static func flip(_ images: Tensor, _ targets: [String: TaskTarget], mask: [Bool], dataset ds: MultiTaskDataset)
        throws -> (images: Tensor, targets: [String: TaskTarget]) {
        guard images.ndim == 4, images.shape[0] == mask.count else {
            throw DataError.invalid("flip: images \(images.shape) do not match \(mask.count) flip decisions")
        }
        let B = mask.count, H = images.shape[2], W = images.shape[3]
        let outImages = mirrored(images, mask)
        var out: [String: TaskTarget] = [:]
        for (task, target) in targets {
            switch target {
            case .values(let t) where t.ndim == 4:
                guard t.shape[0] == B else { throw DataError.invalid("flip: task '\(task)' has \(t.shape[0]) samples, the images \(B)") }
                let m = mirrored(t, mask)
                if case .mirrorNegating(let chans) = rule(ds, task, dense: true) {
                    let c = t.shape[1], hw = t.shape[2] * t.shape[3]
                    for b in 0..<B where mask[b] { for ch in chans where ch < c {
                        let p = m.data + (b * c + ch) * hw
                        for k in 0..<hw { p[k] = -p[k] }
                    } }
                }
                out[task] = .values(m)
            case .labels(let y) where y.count == B * H * W && H * W > 1:
                var z = y
                let relabel: [Int: Int]
                if case .mirrorRelabeling(let map) = rule(ds, task, dense: true) { relabel = map } else { relabel = [:] }
                for b in 0..<B where mask[b] {
                    for r in 0..<H { for c in 0..<W {
                        let v = y[(b * H + r) * W + (W - 1 - c)]
                        z[(b * H + r) * W + c] = relabel[v] ?? v
                    } }
                }
                out[task] = .labels(z)
            default:
                // global targets: kept, or exchanged with their partner on flipped samples
                if case .swap(let other) = rule(ds, task, dense: false) {
                    guard let partner = targets[other] else {
                        throw DataError.invalid("flip: task '\(task)' trades places with '\(other)' when an image is mirrored, but the batch has no '\(other)' target; add '\(other)' to the tasks or turn augmentation off")
                    }
                    out[task] = try swapped(target, partner, mask, task: task)
                } else {
                    out[task] = target
                }
            }
        }
        return (outImages, out)
    }

    /// Copy of [B, C, H, W] with the masked samples mirrored along W.
    static func mirrored(_ t: Tensor, _ mask: [Bool]) -> Tensor {
        let out = t.copy()
        let c = t.shape[1], h = t.shape[2], w = t.shape[3]
        for b in 0..<mask.count where mask[b] {
            for row in 0..<(c * h) {
                let src = t.data + (b * c * h + row) * w, dst = out.data + (b * c * h + row) * w
                for k in 0..<w { dst[k] = src[w - 1 - k] }
            }
        }
        return out
    }

    /// `mine` with the masked samples taken from `partner` (the left class becomes the right one).
    static func swapped(_ mine: TaskTarget, _ partner: TaskTarget, _ mask: [Bool], task: String) throws -> TaskTarget {
        switch (mine, partner) {
        case let (.labels(a), .labels(b)) where a.count == mask.count && b.count == mask.count:
            return .labels(a.indices.map { mask[$0] ? b[$0] : a[$0] })
        case let (.values(a), .values(b)) where a.shape == b.shape && a.shape.first == mask.count:
            let out = a.copy(), row = a.count / max(1, mask.count)
            for i in 0..<mask.count where mask[i] { (out.data + i * row).update(from: b.data + i * row, count: row) }
            return .values(out)
        default:
            throw DataError.invalid("flip: task '\(task)' cannot be swapped with its partner: the targets differ in kind or size")
        }
    }
}
