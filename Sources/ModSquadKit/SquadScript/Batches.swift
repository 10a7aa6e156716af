// Batch streams for the language over SquadData's DataLoader: one per model, dataset, split and batch size, resuming where the last call stopped.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI
import SquadData

final class BatchStream {
    let loader: DataLoader

    /// Training streams shuffle, flip (when `augment`) and drop a last partial batch; evaluation keeps every sample in order.
    init(_ data: DatasetValue, split: DataSplit, batchSize: Int, shuffle: Bool, seed: UInt64, augment: Bool = false) throws {
        let ds = data.dataset
        let n = ds.count(split)
        guard n > 0 else { throw ScriptError(.value, "dataset \(ds.name) has no \(split.rawValue) samples") }
        loader = DataLoader(ds, split: split, batchSize: min(batchSize, n), shuffle: shuffle, seed: seed, augment: augment, dropLast: shuffle)
        loader.normalization = try data.normalization()
    }

    var batchesPerEpoch: Int { loader.batchesPerEpoch }
    var epoch: Int { loader.epoch }
    var position: Int { loader.position }

    /// The next batch; wraps to a new (reshuffled) epoch after the last.
    func next() throws -> (images: Tensor, targets: [String: TaskTarget]) { try loader.next() }
}

extension DatasetValue {
    /// Per-channel statistics, computed once per dataset and shared by its streams.
    func normalization() throws -> (mean: [Float], std: [Float]) {
        if let n = stats { return n }
        let n = try DataLoader.statistics(dataset)
        stats = n
        return n
    }
}

/// The first `count` samples of a split as one batch (pictures).
func firstBatch(_ data: DatasetValue, split: DataSplit, count: Int) throws -> (images: Tensor, targets: [String: TaskTarget]) {
    try BatchStream(data, split: split, batchSize: count, shuffle: false, seed: 0).next()
}
