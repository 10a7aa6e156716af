// Squad checkpoints in safetensors: weights under their dotted names, the config
// as JSON in __metadata__, and optionally the optimizer state (optimizer.*),
// loss weights (loss_weights.*), usage statistics (usage.<layer>.<task>) and step.
import Foundation
import SquadTensor
import SquadNN

public enum Checkpoint {
    public static let configKey = "modsquad.config", formatKey = "modsquad.format", stepKey = "modsquad.step"
    public static let rngKey = "modsquad.rng", loaderKey = "modsquad.loader"

    /// Saves atomically (temporary file, fsync, rename): a crash mid-save leaves the old file.
    /// `loader` is the data position (epoch, batch) to resume from; the model's RNG is saved too.
    public static func save(_ model: SquadModel, trainer: Trainer? = nil, loader: (epoch: Int, position: Int)? = nil,
                            metadata extra: [String: String] = [:], to url: URL) throws {
        var tensors = model.stateDict()
        for l in model.usage.layers { for t in model.usage.tasks(in: l) {
            if let f = model.usage.ema[l]?[t] { tensors["usage.\(l).\(t)"] = Tensor(f.map { Float($0) }) }
        } }
        var meta = [formatKey: "1"]
        meta[rngKey] = model.rng.stateWords.map { String($0, radix: 16) }.joined(separator: ",")
        if let l = loader { meta[loaderKey] = "\(l.epoch),\(l.position)" }
        for (k, v) in extra { meta[k] = v }
        let cfg = try JSONEncoder().encode(model.config)
        meta[configKey] = String(decoding: cfg, as: UTF8.self)
        if let tr = trainer {
            for (k, v) in tr.optimizer.state() { tensors["optimizer." + k] = v }
            for (t, s) in tr.sigma { tensors["loss_weights." + t] = s }
            meta[stepKey] = String(tr.step)
        }
        try SafeTensors.write(tensors, metadata: meta, to: url)
    }

    /// Loads a model (and restores `trainer`'s state when given and present).
    public static func load(_ url: URL) throws -> (model: SquadModel, step: Int, extra: [String: Tensor]) {
        let (tensors, meta) = try SafeTensors.read(url)
        guard let json = meta[configKey] else {
            throw TensorError.io(path: url.path, message: "not a ModSquad checkpoint: no '\(configKey)' in __metadata__")
        }
        let cfg: SquadConfig
        do { cfg = try JSONDecoder().decode(SquadConfig.self, from: Data(json.utf8)) }
        catch { throw TensorError.io(path: url.path, message: "bad model config in __metadata__: \(error)") }
        // The stored config is checked like a constructor's arguments before anything is estimated or built.
        do { try cfg.validate() }
        catch { throw TensorError.io(path: url.path, message: "its model config (\(configKey) in __metadata__) is invalid: \(error)") }
        let model = try SquadModel(cfg)
        var weights: [String: Tensor] = [:], extra: [String: Tensor] = [:]
        for (k, v) in tensors {
            if k.hasPrefix("usage.") || k.hasPrefix("optimizer.") || k.hasPrefix("loss_weights.") { extra[k] = v } else { weights[k] = v }
        }
        try model.load(weights)
        if let words = meta[rngKey]?.split(separator: ",").compactMap({ UInt64($0, radix: 16) }), words.count >= 4 {
            model.rng = RNG(stateWords: words)
        }
        // Layers in model order (blocks.2 before blocks.10, attention before MLP): a dictionary has none.
        let usageKeys = extra.keys.filter { $0.hasPrefix("usage.") }.sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        for k in usageKeys {
            guard let v = extra[k] else { continue }
            let rest = k.dropFirst("usage.".count)
            guard let dot = rest.lastIndex(of: ".") else { continue }
            model.usage.set(layer: String(rest[..<dot]), task: String(rest[rest.index(after: dot)...]), ema: v.array.map(Double.init))
        }
        return (model, Int(meta[stepKey] ?? "0") ?? 0, extra)
    }

    /// The checkpoint's __metadata__ (config, step, RNG, data position, and what callers added).
    public static func metadata(_ url: URL) throws -> [String: String] { try SafeTensors.read(url).metadata }

    /// The data position saved with a checkpoint, if any.
    public static func loaderPosition(_ url: URL) throws -> (epoch: Int, position: Int)? {
        let meta = try SafeTensors.read(url).metadata
        guard let parts = meta[loaderKey]?.split(separator: ","), parts.count == 2,
              let e = Int(parts[0]), let p = Int(parts[1]) else { return nil }
        return (e, p)
    }

    /// Restores optimizer moments, loss weights and step into a trainer built for the loaded model.
    public static func restore(_ trainer: Trainer, from extra: [String: Tensor], step: Int) throws {
        var opt: [String: Tensor] = [:], sig: [String: Tensor] = [:]
        for (k, v) in extra {
            if k.hasPrefix("optimizer.") { opt[String(k.dropFirst("optimizer.".count))] = v }
            if k.hasPrefix("loss_weights.") { sig[String(k.dropFirst("loss_weights.".count))] = v }
        }
        try trainer.restore(step: step, sigma: sig)   // first: it may add σ parameters the optimizer state covers
        if !opt.isEmpty { try trainer.optimizer.loadState(opt) }
    }
}
