// Reliability: a checkpoint writer killed with SIGKILL mid-save leaves the previous
// checkpoint loadable (saves are temp file + fsync + rename).
import XCTest
import Foundation
import SquadTensor
import ModSquad

final class ReliabilityTests: XCTestCase {
    func testKillingAWriterNeverCorruptsTheCheckpoint() throws {
        guard let exe = MSQBinary.url else { throw XCTSkip("the msq binary is not built next to the tests") }
        let dir = temporaryDirectory("msq-kill")
        let nb = dir.appendingPathComponent("saver.msq")
        var src = "m = squad(tasks: [\"depth\", \"count\"], image: 32, dim: 96, depth: 4, experts: 8, top_k: 2)\n"
        for _ in 0..<300 { src += "save(m, \"ckpt.safetensors\")\n" }
        try src.write(to: nb, atomically: true, encoding: .utf8)
        let ckpt = dir.appendingPathComponent("ckpt.safetensors")
        var rng = RNG(seed: 77)
        var killedMidRun = 0
        for round in 0..<6 {
            try? FileManager.default.removeItem(at: ckpt)
            let p = Process()
            p.executableURL = exe
            p.arguments = ["run", nb.path]
            p.currentDirectoryURL = dir
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            try p.run()
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: ckpt.path) && Date() < deadline && p.isRunning { usleep(2_000) }
            XCTAssertTrue(FileManager.default.fileExists(atPath: ckpt.path), "round \(round): the first save never appeared")
            usleep(useconds_t(5_000 + rng.int(below: 60_000)))
            if p.isRunning { kill(p.processIdentifier, SIGKILL); killedMidRun += 1 }
            p.waitUntilExit()
            let loaded = try Checkpoint.load(ckpt)    // the last complete save, whole
            XCTAssertEqual(loaded.model.tasks, ["depth", "count"], "round \(round)")
        }
        XCTAssertGreaterThan(killedMidRun, 3, "the writer was killed while saving in most rounds")
    }
}
