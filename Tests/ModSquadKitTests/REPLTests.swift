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
        try runPythonScenario("Tests/Scripts/repl_pty.py", msq: msq, name: name, in: home,
                              env: ["MSQ_TEST_HOME": home.path, "MSQ_CACHE": sharedCache.path], file: file, line: line)
    }

    func testCompletionOfBuiltinsVariablesMembersAndNamedArguments() throws { try scenario("completion") }
    func testHistoryIsKeptAcrossSessions() throws { try scenario("history") }
    func testMultiLineInputWhileBracketsAreOpen() throws { try scenario("multiline") }
    func testCtrlCStopsTrainingAtAStepBoundary() throws { try scenario("interrupt") }
    func testErrorsAreReportedAndTheSessionGoesOn() throws { try scenario("errors") }

    func testPipedInputReadsPlainLinesWithoutPrompts() throws {
        let cwd = temporaryDirectory("msq-pipe")
        let r = try MSQBinary.run([], cwd: cwd, env: ["HOME": cwd.path], stdin: "a = [1,\n 2]\na\nlen(a) + oops\n:vars\nprint(\"still here\")\nb = [1,\n")
        XCTAssertEqual(r.status, 1)   // every entry ran; a piped session reports that one failed
        XCTAssertEqual(r.out, "[1, 2]\na = [1, 2]\nstill here\n")
        XCTAssertTrue(r.err.contains("<in 3>:1:10: name error: unknown name 'oops'"), r.err)
        XCTAssertTrue(r.err.contains("<in 5>:1:5: syntax error: '[' is never closed"), r.err)
        let ok = try MSQBinary.run([], cwd: cwd, env: ["HOME": cwd.path], stdin: "x = 2\nx * 21\n")
        XCTAssertEqual(ok.status, 0)
        XCTAssertEqual(ok.out, "42\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cwd.appendingPathComponent(".msq_history").path))
    }

    func testLoadThatFailsPartWayNamesTheVariablesItSet() throws {
        let cwd = temporaryDirectory("msq-load")
        try "a = 10\nb = 2\n# %%\nc = a + b\nboom\n# %%\nd = 4\n".write(to: cwd.appendingPathComponent("nb.msq"), atomically: true, encoding: .utf8)
        let r = try MSQBinary.run([], cwd: cwd, env: ["HOME": cwd.path], stdin: "a = 1\nkeep = 5\n:load nb.msq\n:vars\n")
        XCTAssertTrue(r.err.contains("nb.msq:5:1: name error: unknown name 'boom'"), r.err)
        XCTAssertTrue(r.out.contains(":load nb.msq: stopped at cell 2 of 3"), r.out)
        XCTAssertTrue(r.out.contains("kept what ran before the error; variables set: a (replaced), b (new), c (new)\n"), r.out)
        XCTAssertTrue(r.out.contains("a = 10\nkeep = 5\nb = 2\nc = 12\n"), "the variables are kept: \(r.out)")
    }

    func testHelpLoadShowsTheCommandAndTheBuiltin() throws {
        let cwd = temporaryDirectory("msq-help")
        let r = try MSQBinary.run([], cwd: cwd, env: ["HOME": cwd.path], stdin: ":help load\n:help :load\n")
        XCTAssertEqual(r.status, 0, r.err)
        let parts = r.out.components(separatedBy: ":load file.msq")
        XCTAssertEqual(parts.count, 3, r.out)
        XCTAssertTrue(parts[1].contains("load(path"), "the load() builtin after :help load: \(r.out)")
        XCTAssertTrue(parts[1].contains("Loads a model saved by save"), r.out)
        XCTAssertFalse(parts[2].contains("load(path"), ":help :load asks for the command only: \(r.out)")
    }

    func testMsqRunAndLoadSayWhyANotebookCannotBeRead() throws {
        let cwd = temporaryDirectory("msq-latin1")
        try Data([UInt8]("x = 1\nprint(\"caf".utf8) + [0xE9] + [UInt8]("\")\n".utf8)).write(to: cwd.appendingPathComponent("latin1.msq"))
        let r = try MSQBinary.run(["run", "latin1.msq"], cwd: cwd, env: ["HOME": cwd.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("latin1.msq: not UTF-8 text: byte 0xE9 at byte offset 16 (line 2)"), r.err)
        let l = try MSQBinary.run([], cwd: cwd, env: ["HOME": cwd.path], stdin: ":load latin1.msq\n:load .\n")
        XCTAssertTrue(l.err.contains("byte 0xE9 at byte offset 16 (line 2)"), l.err)
        XCTAssertTrue(l.err.contains("is a directory"), l.err)
        // a CRLF notebook runs through msq run
        try "# %%\r\nx = [1,\r\n 2]\r\nprint(x)\r\n# %%\r\ny = x + nope\r\n".write(to: cwd.appendingPathComponent("win.msq"), atomically: true, encoding: .utf8)
        let w = try MSQBinary.run(["run", "win.msq"], cwd: cwd, env: ["HOME": cwd.path])
        XCTAssertTrue(w.out.contains("[1, 2]\n"), w.out)
        XCTAssertTrue(w.err.contains("win.msq:6:9: name error: unknown name 'nope'"), w.err)
        // a notebook from a pipe (not a regular file) is read as a stream, not refused as "permission"
        let p = try MSQBinary.run(["run", "/dev/stdin"], cwd: cwd, env: ["HOME": cwd.path], stdin: "print(1 + 2)\n")
        XCTAssertEqual(p.status, 0, p.err)
        XCTAssertTrue(p.out.contains("3\n"), p.out)
    }
}

/// One scenes cache for the tests that run msq (rendered once per machine).
let sharedCache: URL = {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("msq-test-cache")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}()
