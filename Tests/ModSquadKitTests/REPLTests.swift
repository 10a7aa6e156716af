// The REPL driven through a pseudo-terminal (Tests/Scripts/repl_pty.py with pexpect): completion, history across sessions, multi-line input, Ctrl-C during training, errors; and piped input.
import XCTest
import Foundation

final class REPLTests: XCTestCase {
    /// Runs one pexpect scenario against the built msq with HOME in a fresh folder.
    func scenario(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let msq = MSQBinary.url else { throw XCTSkip("the msq binary is not built next to the tests") }
        let check = try runPython("import pexpect")
        guard check.status == 0 else { return XCTFail("python3 with pexpect is needed (bash scripts/setup.sh --test)", file: file, line: line) }
        let home = temporaryDirectory("msq-repl")
        defer { try? FileManager.default.removeItem(at: home) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Fixtures.repoRoot.appendingPathComponent("Tests/Scripts/repl_pty.py").path, msq.path, name]
        var env = ProcessInfo.processInfo.environment
        env["MSQ_TEST_HOME"] = home.path
        env["MSQ_CACHE"] = sharedCache.path
        p.environment = env
        let out = home.appendingPathComponent("pty.log")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let h = try FileHandle(forWritingTo: out)
        p.standardOutput = h; p.standardError = h
        try p.run()
        p.waitUntilExit()
        try? h.close()
        let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, text, file: file, line: line)
        XCTAssertTrue(text.contains("ok \(name)"), text, file: file, line: line)
    }

    func testCompletionOfBuiltinsVariablesMembersAndNamedArguments() throws { try scenario("completion") }
    func testHistoryIsKeptAcrossSessions() throws { try scenario("history") }
    func testMultiLineInputWhileBracketsAreOpen() throws { try scenario("multiline") }
    func testCtrlCStopsTrainingAtAStepBoundary() throws { try scenario("interrupt") }
    func testErrorsAreReportedAndTheSessionGoesOn() throws { try scenario("errors") }

    func testPipedInputReadsPlainLinesWithoutPrompts() throws {
        let cwd = temporaryDirectory("msq-pipe")
        let r = try MSQBinary.run([], cwd: cwd, env: ["HOME": cwd.path], stdin: "a = [1,\n 2]\na\nlen(a) + oops\n:vars\nprint(\"still here\")\n")
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, "[1, 2]\na = [1, 2]\nstill here\n")
        XCTAssertTrue(r.err.contains("<in 3>:1:10: name error: unknown name 'oops'"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cwd.appendingPathComponent(".msq_history").path))
    }
}

/// One scenes cache for the tests that run msq (rendered once per machine).
let sharedCache: URL = {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("msq-test-cache")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}()
