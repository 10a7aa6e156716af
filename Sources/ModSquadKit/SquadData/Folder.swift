// User datasets: a folder with manifest.csv (image PNG, then one column per task, `name:kind` in the header); every bad input names file and row.
import Foundation
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI

/// One task column of a manifest.
public struct FolderColumn: Equatable, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        /// global class index (integer ≥ 0)
        case `class`
        /// global number(s), several separated by ';'
        case value
        /// dense map: .npy [H, W] or [C, H, W], or a PNG read as one grey channel
        case dense
        /// dense colour map: .npy [3, H, W] or a PNG, three channels in [0, 1]
        case rgb
        /// surface normals: .npy [3, H, W] or a PNG mapped from [0, 1] to [−1, 1]; x is negated on flips
        case normal
        /// per-pixel classes: .npy [H, W] of integers (−1 ignored) or a PNG's red byte (255 ignored)
        case segment
    }
    public let name: String
    public let kind: Kind
    /// Channels (dense, rgb, normal), outputs (value) or classes (class, segment).
    public internal(set) var size: Int
    public var isDense: Bool { kind != .class && kind != .value }
    /// Class indices (class and segment columns) must be below this: a stray 1000000000 would ask for a
    /// billion-way head. Labels are numbered 0, 1, 2, …
    public static let maxClasses = 100_000
}

/// A folder dataset read from `manifest.csv`. Relative paths are relative to the manifest's folder.
/// Columns: `image` (PNG) first, optionally `split` (train / test), then `name:kind` task columns.
public final class FolderDataset: MultiTaskDataset, FlipDescribing, LabelChecking {
    public let name = "folder"
    public let folder: URL
    public let manifest: URL
    public private(set) var imageSize = 0
    public let channels = 3
    public private(set) var columns: [FolderColumn] = []
    public var taskNames: [String] { columns.map(\.name) }
    var images: [UInt8] = []                 // N × 3 × S × S
    var globals: [String: [Float]] = [:]     // N × size
    var maps: [String: [Float]] = [:]        // N × C × S × S
    var classes: [String: [Int]] = [:]       // N (class) or N × S × S (segment)
    var rows: [DataSplit: [Int]] = [:]
    /// The manifest line of each sample (for errors about a sample's targets).
    var lineOf: [Int] = []

    public var summary: String {
        "folder \(folder.path): \(count(.train)) train / \(count(.test)) test, \(imageSize)×\(imageSize), tasks "
            + columns.map { "\($0.name):\($0.kind.rawValue)" }.joined(separator: ", ")
    }

    /// Reads `path/manifest.csv` (or `path` itself when it names a .csv file). Without a `split` column a
    /// seeded random fraction `test` of the rows is the test split.
    public init(path: String, test: Double = 0.2, seed: UInt64 = 0) throws {
        var url = URL(fileURLWithPath: path)
        if url.pathExtension.lowercased() != "csv" { url = url.appendingPathComponent("manifest.csv") }
        manifest = url; folder = url.deletingLastPathComponent()
        guard (0...1).contains(test) else { throw DataError.invalid("folder: test must be a fraction within 0...1, got \(test)") }
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            let why = FileManager.default.fileExists(atPath: url.path) ? "cannot read as UTF-8 text" : "no such file"
            throw DataError.file(path: url.path, row: nil, message: why)
        }
        let records = try FolderDataset.parseCSV(text, path: url.path).filter { !($0.fields.count == 1 && $0.fields[0].isEmpty) }
        guard let header = records.first else { throw DataError.file(path: url.path, row: nil, message: "is empty; the first line must be a header starting with 'image'") }
        func fail(_ row: Int, _ m: String) -> DataError { .file(path: url.path, row: row, message: m) }
        guard header.fields.first == "image" else {
            throw fail(header.line, "the header's first column must be 'image', found '\(header.fields.first ?? "")'")
        }
        var cols: [FolderColumn] = [], splitColumn: Int? = nil, positions: [Int] = []
        for (j, h) in header.fields.enumerated().dropFirst() {
            if h == "split" { splitColumn = j; continue }
            let parts = h.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let kinds = FolderColumn.Kind.allCases.map(\.rawValue).joined(separator: ", ")
            guard parts.count == 2, !parts[0].isEmpty else {
                throw fail(header.line, "column '\(h)' must be written name:kind (kinds: \(kinds))")
            }
            guard let kind = FolderColumn.Kind(rawValue: parts[1]) else {
                throw fail(header.line, "column '\(h)' has unknown kind '\(parts[1])'; kinds: \(kinds)")
            }
            guard parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw fail(header.line, "column name '\(parts[0])' may use letters, digits and '_' only")
            }
            guard !cols.contains(where: { $0.name == parts[0] }) else { throw fail(header.line, "column '\(parts[0])' appears twice") }
            cols.append(FolderColumn(name: parts[0], kind: kind, size: 0)); positions.append(j)
        }
        guard !cols.isEmpty else { throw fail(header.line, "no task columns; add at least one name:kind column after 'image'") }
        let data = records.dropFirst()
        guard !data.isEmpty else { throw DataError.file(path: url.path, row: nil, message: "has a header but no rows") }

        var size = 0, splitOf: [DataSplit?] = []
        for rec in data {
            let row = rec.line
            guard rec.fields.count == header.fields.count else {
                throw fail(row, "has \(rec.fields.count) fields, the header has \(header.fields.count)")
            }
            // image
            let imagePath = rec.fields[0]
            guard !imagePath.isEmpty else { throw fail(row, "missing image path") }
            let (w, h, rgb) = try FolderDataset.readPNG(imagePath, in: folder, manifest: url, row: row, what: "image")
            guard w == h else { throw fail(row, "image '\(imagePath)' is \(w)×\(h); images must be square") }
            if size == 0 { size = w }
            guard w == size else { throw fail(row, "image '\(imagePath)' is \(w)×\(h) but the first image is \(size)×\(size)") }
            images.append(contentsOf: rgb)
            lineOf.append(row)
            if let sc = splitColumn {
                switch rec.fields[sc].lowercased() {
                case "train": splitOf.append(.train)
                case "test": splitOf.append(.test)
                default: throw fail(row, "bad split '\(rec.fields[sc])': expected train or test")
                }
            } else { splitOf.append(nil) }
            // task columns
            for (ci, j) in positions.enumerated() {
                let col = cols[ci], cell = rec.fields[j], label = "\(col.name):\(col.kind.rawValue)"
                guard !cell.isEmpty else { throw fail(row, "missing value for '\(label)'") }
                switch col.kind {
                case .class:
                    guard let v = Int(cell), v >= 0 else { throw fail(row, "bad value '\(cell)' for '\(label)': expected a class index (an integer ≥ 0)") }
                    guard v < FolderColumn.maxClasses else {
                        throw fail(row, "class index \(v) for '\(label)' is above the limit of \(FolderColumn.maxClasses - 1); number the classes 0, 1, 2, … (re-index the labels)")
                    }
                    classes[col.name, default: []].append(v)
                    cols[ci].size = max(cols[ci].size, v + 1)
                case .value:
                    let vs = cell.split(separator: ";").map { Float($0.trimmingCharacters(in: .whitespaces)) }
                    guard vs.allSatisfy({ $0 != nil && $0!.isFinite }) else { throw fail(row, "bad value '\(cell)' for '\(label)': expected a number (several separated by ';')") }
                    if cols[ci].size == 0 { cols[ci].size = vs.count }
                    guard vs.count == cols[ci].size else { throw fail(row, "'\(label)' has \(vs.count) numbers, earlier rows have \(cols[ci].size)") }
                    globals[col.name, default: []].append(contentsOf: vs.map { $0! })
                default:
                    let c = try readMap(cell, col, size: size, row: row, fixed: cols[ci].size)
                    if col.kind == .segment { cols[ci].size = max(cols[ci].size, c) } else { cols[ci].size = c }
                }
            }
        }
        for k in cols.indices where cols[k].kind == .segment && cols[k].size == 0 { cols[k].size = 1 }
        columns = cols; imageSize = size
        // splits
        let n = data.count
        if splitColumn != nil {
            rows[.train] = (0..<n).filter { splitOf[$0] == .train }; rows[.test] = (0..<n).filter { splitOf[$0] == .test }
        } else {
            var rng = RNG(seed: seed)
            let perm = rng.permutation(n), nTest = Int((Double(n) * test).rounded())
            rows[.test] = perm.prefix(nTest).sorted(); rows[.train] = perm.dropFirst(nTest).sorted()
        }
    }

    /// Reads one dense cell (a .png or .npy path) into the stores; returns its channels (or classes for segment).
    private func readMap(_ cell: String, _ col: FolderColumn, size S: Int, row: Int, fixed: Int) throws -> Int {
        let label = "\(col.name):\(col.kind.rawValue)", n = S * S
        func fail(_ m: String) -> DataError { .file(path: manifest.path, row: row, message: m) }
        let ext = (cell as NSString).pathExtension.lowercased()
        guard ext == "png" || ext == "npy" else { throw fail("'\(cell)' for '\(label)' must be a .png or .npy file") }
        var values: [Float]
        var c: Int
        if ext == "png" {
            let (w, h, rgb) = try FolderDataset.readPNG(cell, in: folder, manifest: manifest, row: row, what: col.name)
            guard w == S, h == S else { throw fail("wrong size: '\(cell)' for '\(label)' is \(w)×\(h), the images are \(S)×\(S)") }
            switch col.kind {
            case .dense: c = 1; values = (0..<n).map { (Float(rgb[$0]) + Float(rgb[n + $0]) + Float(rgb[2 * n + $0])) / (3 * 255) }
            case .rgb: c = 3; values = rgb.map { Float($0) / 255 }
            case .normal: c = 3; values = rgb.map { Float($0) / 255 * 2 - 1 }
            default: c = 1; values = (0..<n).map { rgb[$0] == 255 ? -1 : Float(rgb[$0]) }
            }
        } else {
            let t: Tensor
            do { t = try NPY.read(cell.hasPrefix("/") ? URL(fileURLWithPath: cell) : folder.appendingPathComponent(cell)) }
            catch let TensorError.io(_, message) { throw fail("\(col.name) file '\(cell)': \(message)") }
            catch { throw fail("\(col.name) file '\(cell)': \(error)") }
            if t.shape == [S, S] { c = 1 } else if t.ndim == 3, t.shape[1] == S, t.shape[2] == S { c = t.shape[0] } else {
                throw fail("wrong size: '\(cell)' for '\(label)' has shape \(t.shape), expected [\(S), \(S)] or [C, \(S), \(S)] to match the images")
            }
            values = t.array
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw fail("bad value: '\(cell)' has a non-finite value (\(values[bad])) at element \(bad)")
            }
        }
        switch col.kind {
        case .segment:
            guard c == 1 else { throw fail("wrong size: '\(cell)' for '\(label)' must hold one class map, found \(c) channels") }
            if let bad = values.firstIndex(where: { $0 != $0.rounded() || $0 < -1 }) {
                throw fail("bad value: '\(cell)' has \(values[bad]) at pixel (\(bad / S), \(bad % S)); classes are integers ≥ 0 (−1 ignored)")
            }
            if let bad = values.firstIndex(where: { $0 >= Float(FolderColumn.maxClasses) }) {
                throw fail("bad value: '\(cell)' has class \(values[bad]) at pixel (\(bad / S), \(bad % S)), above the limit of \(FolderColumn.maxClasses - 1); number the classes 0, 1, 2, …")
            }
            let ints = values.map { Int($0) }
            classes[col.name, default: []].append(contentsOf: ints)
            return (ints.max() ?? -1) + 1
        case .rgb, .normal:
            guard c == 3 else { throw fail("wrong size: '\(cell)' for '\(label)' has \(c) channels, expected 3") }
        default:
            if fixed > 0 && c != fixed { throw fail("wrong size: '\(cell)' for '\(label)' has \(c) channels, earlier rows have \(fixed)") }
        }
        maps[col.name, default: []].append(contentsOf: values)
        return c
    }

    /// Reads a PNG named in a manifest cell; errors name the manifest, its row and the PNG.
    static func readPNG(_ cell: String, in folder: URL, manifest: URL, row: Int, what: String) throws -> (Int, Int, [UInt8]) {
        let u = cell.hasPrefix("/") ? URL(fileURLWithPath: cell) : folder.appendingPathComponent(cell)
        guard FileManager.default.fileExists(atPath: u.path) else {
            throw DataError.file(path: manifest.path, row: row, message: "\(what) file '\(cell)' is missing (looked for \(u.path))")
        }
        do { return try PNG.readBytes(u) } catch let DataError.file(_, _, message) {
            throw DataError.file(path: manifest.path, row: row, message: "\(what) file '\(cell)': \(message)")
        }
    }

    public func count(_ split: DataSplit) -> Int { rows[split]?.count ?? 0 }

    /// The first sample whose class for `task` is `classes` or more, named by its manifest line.
    public func checkLabels(task: String, classes: Int) throws {
        guard let c = columns.first(where: { $0.name == task }), c.kind == .class || c.kind == .segment,
              let all = self.classes[c.name] else { return }
        let per = c.kind == .segment ? imageSize * imageSize : 1
        guard let bad = all.firstIndex(where: { $0 >= classes }) else { return }
        let where_ = c.kind == .segment ? " at pixel (\((bad % per) / imageSize), \(bad % imageSize))" : ""
        throw DataError.file(path: manifest.path, row: lineOf[bad / per],
                             message: "'\(c.name):\(c.kind.rawValue)' is \(all[bad])\(where_), but the model's task '\(task)' has \(classes) classes (0...\(classes - 1))")
    }

    public func flipRule(for task: String) -> FlipRule {
        guard let c = columns.first(where: { $0.name == task }) else { return .keep }
        switch c.kind {
        case .normal: return .mirrorNegating(channels: [0])
        case .class, .value: return .keep
        default: return .mirror
        }
    }

    public func batch(_ split: DataSplit, _ indices: [Int]) throws -> (images: Tensor, targets: [String: TaskTarget]) {
        try checkIndices(indices, count: count(split), dataset: name, split: split)
        let S = imageSize, n = S * S, B = indices.count
        let rowsOf = indices.map { rows[split]![$0] }
        let im = Tensor(uninitialized: [B, 3, S, S])
        for (b, r) in rowsOf.enumerated() { for k in 0..<(3 * n) { im.data[b * 3 * n + k] = Float(images[r * 3 * n + k]) / 255 } }
        var targets: [String: TaskTarget] = [:]
        for c in columns {
            switch c.kind {
            case .class: targets[c.name] = .labels(rowsOf.map { classes[c.name]![$0] })
            case .segment:
                let all = classes[c.name]!
                targets[c.name] = .labels(rowsOf.flatMap { all[($0 * n)..<($0 * n + n)] })
            case .value:
                let t = Tensor(uninitialized: [B, c.size]), all = globals[c.name]!
                for (b, r) in rowsOf.enumerated() { for k in 0..<c.size { t.data[b * c.size + k] = all[r * c.size + k] } }
                targets[c.name] = .values(t)
            default:
                let t = Tensor(uninitialized: [B, c.size, S, S]), all = maps[c.name]!, per = c.size * n
                for (b, r) in rowsOf.enumerated() { for k in 0..<per { t.data[b * per + k] = all[r * per + k] } }
                targets[c.name] = .values(t)
            }
        }
        return (im, targets)
    }

    // MARK: CSV

    struct Record { let line: Int; let fields: [String] }

    /// RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines; unquoted fields are trimmed.
    static func parseCSV(_ text: String, path: String) throws -> [Record] {
        var out: [Record] = [], fields: [String] = [], field = "", quoted = false, wasQuoted = false
        var line = 1, start = 1
        var it = Array(text.unicodeScalars).makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? { if let p = pending { pending = nil; return p }; return it.next() }
        func endField() { fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces)); field = ""; wasQuoted = false }
        while let ch = next() {
            if quoted {
                if ch == "\"" {
                    if let n2 = next() { if n2 == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = n2 } } else { quoted = false }
                } else { if ch == "\n" { line += 1 }; field.unicodeScalars.append(ch) }
                continue
            }
            switch ch {
            case "\"" where field.trimmingCharacters(in: .whitespaces).isEmpty: quoted = true; wasQuoted = true; field = ""
            case ",": endField()
            case "\r": continue
            case "\n":
                endField(); out.append(Record(line: start, fields: fields)); fields = []
                line += 1; start = line
            default: field.unicodeScalars.append(ch)
            }
        }
        if quoted { throw DataError.file(path: path, row: start, message: "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty { endField(); out.append(Record(line: start, fields: fields)) }
        return out
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    // MARK: export

    /// Writes samples of a dataset as a folder with manifest.csv: images as PNG, dense targets as .npy,
    /// global ones inline, with a `split` column. Returns the manifest's URL.
    @discardableResult
    public static func export(_ ds: MultiTaskDataset, to folder: URL, train: Int? = nil, test: Int? = nil) throws -> URL {
        var header = ["image", "split"], lines: [String] = [], kinds: [String: String] = [:]
        let tasks = ds.taskNames
        func save(_ t: Tensor, _ rel: String) throws {
            let u = folder.appendingPathComponent(rel)
            try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
            try NPY.write(t, to: u)
        }
        for (split, limit) in [(DataSplit.train, train), (DataSplit.test, test)] {
            let n = min(limit ?? ds.count(split), ds.count(split))
            var start = 0
            while start < n {
                let idx = Array(start..<min(n, start + 64))
                let (images, targets) = try ds.batch(split, idx)
                let S = images.shape[2], hw = S * S, c = images.shape[1]
                for (b, i) in idx.enumerated() {
                    let name = "\(split.rawValue)-\(i)"
                    let img = Tensor(uninitialized: [c, S, S])
                    img.data.update(from: images.data + b * c * hw, count: c * hw)
                    try PNG.write(img, to: folder.appendingPathComponent("images/\(name).png"))
                    var row = ["images/\(name).png", split.rawValue]
                    for t in tasks {
                        guard let target = targets[t] else { throw DataError.invalid("export: \(ds.name) gave no target for task '\(t)'") }
                        switch target {
                        case .labels(let y) where y.count == idx.count * hw && hw > 1:
                            kinds[t] = "segment"
                            let m = Tensor(uninitialized: [S, S])
                            for k in 0..<hw { m.data[k] = Float(y[b * hw + k]) }
                            let rel = "targets/\(t)/\(name).npy"
                            try save(m, rel); row.append(rel)
                        case .labels(let y):
                            kinds[t] = "class"; row.append(String(y[b]))
                        case .values(let v) where v.ndim == 4:
                            let ch = v.shape[1]
                            let rule = (ds as? FlipDescribing)?.flipRule(for: t)
                            kinds[t] = ch == 3 && rule == .mirrorNegating(channels: [0]) ? "normal" : "dense"
                            let m = Tensor(uninitialized: [ch, v.shape[2], v.shape[3]])
                            m.data.update(from: v.data + b * m.count, count: m.count)
                            let rel = "targets/\(t)/\(name).npy"
                            try save(m, rel); row.append(rel)
                        case .values(let v):
                            kinds[t] = "value"
                            let per = v.count / max(1, idx.count)
                            row.append((0..<per).map { "\(v.data[b * per + $0])" }.joined(separator: ";"))
                        }
                    }
                    lines.append(row.map(csvField).joined(separator: ","))
                }
                start += idx.count
            }
        }
        header += tasks.map { "\($0):\(kinds[$0] ?? "value")" }
        let url = folder.appendingPathComponent("manifest.csv")
        try DataCache.writeAtomically(Data(([header.joined(separator: ",")] + lines).joined(separator: "\n").appending("\n").utf8), to: url)
        return url
    }
}
