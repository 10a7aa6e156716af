// Seeded mutation fuzzing (bounded, run in CI) of the parsers and the language over a
// committed corpus (Tests/Fixtures/fuzz, made by make_fuzz_corpus.py): IDX, PNG and
// manifest.csv readers never crash and never read out of bounds; every failure of the
// lexer, parser or interpreter on a mutated notebook is a located error.
// MSQ_FUZZ_ITERATIONS raises the count for a longer local run.
import XCTest
import Foundation
import SquadTensor
import SquadData
import SquadPluginAPI
@testable import SquadScript

final class FuzzTests: XCTestCase {
    let iterations = Int(ProcessInfo.processInfo.environment["MSQ_FUZZ_ITERATIONS"] ?? "") ?? 1000

    /// Flip, overwrite, insert, delete, truncate or duplicate bytes.
    func mutate(_ b: [UInt8], _ rng: inout RNG) -> [UInt8] {
        var x = b
        for _ in 0..<(1 + rng.int(below: 3)) {
            if x.isEmpty { x = [UInt8(rng.int(below: 256))]; continue }
            let i = rng.int(below: x.count)
            switch rng.int(below: 6) {
            case 0: x[i] ^= UInt8(1 << rng.int(below: 8))
            case 1: x[i] = [0, 255, 0x7f, 0x80, UInt8(rng.int(below: 256))][rng.int(below: 5)]
            case 2: x.insert(UInt8(rng.int(below: 256)), at: i)
            case 3: x.remove(at: i)
            case 4: x = Array(x.prefix(i))
            default: let j = min(x.count, i + 1 + rng.int(below: 8)); x.insert(contentsOf: x[i..<j], at: i)
            }
        }
        return x
    }

    func testIDXReaderNeverCrashes() throws {
        let gz = try [UInt8](Data(contentsOf: Fixtures.url("fuzz/idx/images.idx.gz")))
        let raw = try IDX.gunzip(Data(gz), source: "seed")
        XCTAssertEqual(try IDX.decode(raw, source: "seed").shape, [3, 4, 4])
        var rng = RNG(seed: 101), rejected = 0
        for _ in 0..<iterations {
            do { _ = try IDX.decode(IDX.gunzip(Data(mutate(gz, &rng)), source: "fuzz"), source: "fuzz") } catch { rejected += 1 }
            do {
                let a = try IDX.decode(mutate(raw, &rng), source: "fuzz")
                XCTAssertGreaterThanOrEqual(a.payload.count, a.count, "the payload covers every element")
            } catch { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 0)
    }

    /// Inputs that crashed a loader under libFuzzer (fuzz/run.sh), kept as regressions: each must now be an error.
    func testCommittedCrashersAreErrors() throws {
        let root = Fixtures.url("fuzz/crashers")
        let fm = FileManager.default
        var replayed = 0
        for target in try fm.contentsOfDirectory(atPath: root.path).sorted() {
            let dir = root.appendingPathComponent(target)
            for name in try fm.contentsOfDirectory(atPath: dir.path).sorted() {
                let bytes = try [UInt8](Data(contentsOf: dir.appendingPathComponent(name)))
                switch target {
                case "idx": XCTAssertThrowsError(try IDX.decode(bytes, source: name), "\(target)/\(name)")
                default: XCTFail("no replay for crashers of '\(target)'")
                }
                replayed += 1
            }
        }
        XCTAssertGreaterThan(replayed, 0, "the committed crashers were found")
    }

    func testPNGReaderNeverCrashes() throws {
        let seed = try [UInt8](Data(contentsOf: Fixtures.url("fuzz/png/tile.png")))
        let dir = temporaryDirectory("fuzz-png"), url = dir.appendingPathComponent("x.png")
        var rng = RNG(seed: 102), ok = 0
        for _ in 0..<iterations {
            try Data(mutate(seed, &rng)).write(to: url)
            if let img = try? PNG.readBytes(url) {
                XCTAssertEqual(img.rgb.count, img.width * img.height * 3)
                ok += 1
            }
        }
        XCTAssertLessThan(ok, iterations, "some mutations are rejected")
    }

    func testManifestReaderNeverCrashes() throws {
        let src = Fixtures.url("fuzz/manifest")
        let dir = temporaryDirectory("fuzz-manifest")
        for f in ["a.png", "b.png"] { try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: dir.appendingPathComponent(f)) }
        let seed = try [UInt8](Data(contentsOf: src.appendingPathComponent("manifest.csv")))
        var rng = RNG(seed: 103), rejected = 0
        for _ in 0..<iterations {
            try Data(mutate(seed, &rng)).write(to: dir.appendingPathComponent("manifest.csv"))
            do {
                let ds = try FolderDataset(path: dir.path, test: 0)
                for split in [DataSplit.train, .test] where ds.count(split) > 0 {
                    _ = try ds.batch(split, Array(0..<ds.count(split)))
                }
            } catch {
                rejected += 1
                XCTAssertTrue("\(error)".contains("manifest.csv") || "\(error)".contains(".png"), "errors name the file: \(error)")
            }
        }
        XCTAssertGreaterThan(rejected, 0)
    }

    /// Text mutations that cannot grow numbers (so a mutated notebook stays small to run).
    func mutateSource(_ s: String, _ rng: inout RNG) -> String {
        var c = Array(s)
        let inserts = ["(", ")", "[", "]", ",", ":", "=", "\"", ".", "#", "\n", " ", "+", "-", "*", "/", "\\", ";", "none", "true", "m", "data", "step", "help", "é", "\t"]
        for _ in 0..<(1 + rng.int(below: 3)) {
            if c.isEmpty { c = ["x"]; continue }
            let i = rng.int(below: c.count)
            switch rng.int(below: 3) {
            case 0: c.remove(at: i)
            case 1: if i + 1 < c.count { c.swapAt(i, i + 1) }
            default: c.insert(contentsOf: inserts[rng.int(below: inserts.count)], at: i)
            }
        }
        return String(c)
    }

    func testLanguageFailuresAreLocated() throws {
        let toy = try String(contentsOf: Fixtures.url("fuzz/msq/toy.msq"), encoding: .utf8)
        let big = try String(contentsOf: Fixtures.url("fuzz/msq/quickstart.msq"), encoding: .utf8)
        var rng = RNG(seed: 104), failures = 0
        for n in 0..<iterations {
            // lexer + parser on the larger notebook
            let text = mutateSource(big, &rng)
            do { _ = try Parser.parse(SourceFile(name: "fuzz.msq", text: text)) } catch {
                failures += 1
                XCTAssertNotNil((error as? ScriptError)?.location, "unlocated parse error for mutation \(n): \(error)")
            }
            // the interpreter on a small notebook with toy plugins
            if n % 3 == 0 {
                let (interp, _) = makeSession()
                do { _ = try interp.run(mutateSource(toy, &rng), name: "toy.msq") } catch {
                    failures += 1
                    XCTAssertNotNil((error as? ScriptError)?.location, "unlocated run error for mutation \(n): \(error)")
                }
            }
        }
        XCTAssertGreaterThan(failures, 0)
    }
}
