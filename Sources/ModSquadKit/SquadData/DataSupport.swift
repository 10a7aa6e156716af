// Shared pieces of the data layer: errors naming file and row, the on-disk cache folder, atomic writes, stable hashing.
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SquadTensor
import SquadPluginAPI

/// An error of the data layer; the description always names the file (and row when there is one).
public enum DataError: Error, CustomStringConvertible, Equatable {
    /// A problem with a file; `row` is the 1-based data row of a manifest, nil for whole-file problems.
    case file(path: String, row: Int?, message: String)
    /// A bad request (parameters, indices, task names) not tied to one file.
    case invalid(String)

    public var description: String {
        switch self {
        case let .file(path, row, message):
            return row.map { "\(path), row \($0): \(message)" } ?? "\(path): \(message)"
        case let .invalid(m): return m
        }
    }
}

public enum DataCache {
    /// The cache root: $MSQ_CACHE, else ~/.cache/modsquad (created on demand).
    public static var root: URL {
        if let v = ProcessInfo.processInfo.environment["MSQ_CACHE"], !v.isEmpty { return URL(fileURLWithPath: v) }
        if let x = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"], !x.isEmpty {
            return URL(fileURLWithPath: x).appendingPathComponent("modsquad")
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/modsquad")
    }

    /// 64-bit FNV-1a of a string, printed as 16 hex digits (stable across runs and machines).
    public static func hash(_ s: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01b3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Writes `data` to a temporary file beside `url` and renames it into place, so a
    /// reader never sees a half-written file; creates the folder when missing.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw DataError.file(path: folder.path, row: nil, message: "cannot create the folder: \(error.localizedDescription)")
        }
        let tmp = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)")
        do { try data.write(to: tmp) } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw DataError.file(path: url.path, row: nil, message: "cannot write: \(error.localizedDescription)")
        }
        guard rename(tmp.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw DataError.file(path: url.path, row: nil, message: "cannot rename into place: \(reason)")
        }
    }
}

/// A seed for sample `index` of a split, mixing the dataset seed, a stream tag and the index (SplitMix64 finaliser).
@inline(__always) public func sampleSeed(_ seed: UInt64, _ stream: UInt64, _ index: Int) -> UInt64 {
    var x = seed &+ stream &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(truncatingIfNeeded: index) &* 0xD1B5_4A32_D192_ED03
    x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
    x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
    return x ^ (x >> 31)
}

extension DataSplit {
    /// A stream tag so train and test samples never share random numbers.
    var stream: UInt64 { self == .train ? 0x7472_6169_6E : 0x7465_7374 }
}

/// Checks that every index is inside 0..<count, naming the dataset and split.
func checkIndices(_ indices: [Int], count: Int, dataset: String, split: DataSplit) throws {
    for i in indices where i < 0 || i >= count {
        throw DataError.invalid("\(dataset): sample \(i) is outside the \(split.rawValue) split (0..<\(count))")
    }
}
