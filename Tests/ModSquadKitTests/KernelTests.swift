// The msq Jupyter kernel: protocol scenarios through jupyter_client (Tests/kernel/kernel_tests.py), connection-file errors, kernelspec, convert.
import XCTest
import Foundation

final class JupyterKernelTests: XCTestCase {
    /// Runs one scenario of Tests/kernel/kernel_tests.py against the built msq; fails (never skips) without the Python tooling.
    func scenario(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let msq = MSQBinary.url else { throw XCTSkip("the msq binary is not built next to the tests") }
        let check = try runPython("import jupyter_client, jupyter_kernel_test, nbclient, nbformat")
        guard check.status == 0 else {
            return XCTFail("python3 with jupyter_client, jupyter_kernel_test, nbclient and nbformat is needed (bash scripts/setup.sh --test)\n\(check.output)",
                           file: file, line: line)
        }
        let tmp = temporaryDirectory("msq-kernel-log")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try runPythonScenario("Tests/kernel/kernel_tests.py", msq: msq, name: name, in: tmp, env: ["MSQ_CACHE": sharedCache.path],
                              unset: ["MSQ_FAST"], file: file, line: line)
    }

    func testJupyterKernelTestSuitePasses() throws { try scenario("spec") }
    func testNbclientRunsTheConvertedQuickstartLikeMsqRun() throws { try scenario("notebook") }
    func testInterruptDuringTrainKeepsKernelAndModel() throws { try scenario("interrupt") }
    func testForgedMessageIsNotExecutedAndBadMessagesAreAnswered() throws { try scenario("forged") }

    func testBadConnectionFileIsAClearErrorAndExitOne() throws {
        let dir = temporaryDirectory("msq-kernel-conn")
        defer { try? FileManager.default.removeItem(at: dir) }
        var r = try MSQBinary.run(["kernel", "-f", "missing.json"], cwd: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("cannot read the connection file missing.json: no such file"), r.err)
        try "{ not json".write(to: dir.appendingPathComponent("bad.json"), atomically: true, encoding: .utf8)
        r = try MSQBinary.run(["kernel", "-f", "bad.json"], cwd: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("the connection file bad.json is not a JSON object"), r.err)
        try #"{"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": "x", "hb_port": 5, "key": "k"}"#
            .write(to: dir.appendingPathComponent("port.json"), atomically: true, encoding: .utf8)
        r = try MSQBinary.run(["kernel", "-f", "port.json"], cwd: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains(#"needs "control_port" as a port number"#), r.err)
        r = try MSQBinary.run(["kernel"], cwd: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("a connection file is needed"), r.err)
    }

    func testKernelspecInstallsWithLogosAndUninstalls() throws {
        let dir = temporaryDirectory("msq-kernel-spec")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try MSQBinary.run(["kernel", "install", "--prefix", dir.path], cwd: dir)
        XCTAssertEqual(r.status, 0, r.err)
        let spec = dir.appendingPathComponent("share/jupyter/kernels/msq")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: spec.appendingPathComponent("kernel.json"))) as? [String: Any]
        XCTAssertEqual(json?["display_name"] as? String, "ModSquad (msq)")
        XCTAssertEqual(json?["language"] as? String, "msq")
        XCTAssertEqual(json?["interrupt_mode"] as? String, "message")
        let argv = json?["argv"] as? [String] ?? []
        XCTAssertEqual(Array(argv.dropFirst()), ["kernel", "-f", "{connection_file}"])
        XCTAssertTrue(argv.first.map { FileManager.default.isExecutableFile(atPath: $0) } ?? false, "\(argv)")
        for size in [32, 64] {
            let png = try Data(contentsOf: spec.appendingPathComponent("logo-\(size)x\(size).png"))
            XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        }
        let u = try MSQBinary.run(["kernel", "uninstall", "--prefix", dir.path], cwd: dir)
        XCTAssertEqual(u.status, 0, u.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: spec.path))
        let again = try MSQBinary.run(["kernel", "uninstall", "--prefix", dir.path], cwd: dir)
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.err.contains("no kernelspec at"), again.err)
    }

    func testConvertEveryNotebookToIpynbAndBack() throws {
        let dir = temporaryDirectory("msq-convert")
        defer { try? FileManager.default.removeItem(at: dir) }
        let notebooks = Fixtures.repoRoot.appendingPathComponent("notebooks")
        let names = try FileManager.default.contentsOfDirectory(atPath: notebooks.path).filter { $0.hasSuffix(".msq") }.sorted()
        XCTAssertTrue(names.contains("quickstart.msq"), "\(names)")
        for n in names {
            let src = notebooks.appendingPathComponent(n), nb = dir.appendingPathComponent(n + ".ipynb"), back = dir.appendingPathComponent(n)
            var r = try MSQBinary.run(["convert", src.path, nb.path], cwd: dir)
            XCTAssertEqual(r.status, 0, r.err)
            let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: nb)) as? [String: Any]
            let meta = obj?["metadata"] as? [String: Any], ks = meta?["kernelspec"] as? [String: Any]
            XCTAssertEqual(ks?["name"] as? String, "msq", n)
            XCTAssertEqual(obj?["nbformat"] as? Int, 4)
            r = try MSQBinary.run(["convert", nb.path, back.path], cwd: dir)
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertEqual(try String(contentsOf: back, encoding: .utf8), try String(contentsOf: src, encoding: .utf8), n)
        }
        let bad = try MSQBinary.run(["convert", "a.txt", "b.ipynb"], cwd: dir)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("convert goes from .msq to .ipynb or from .ipynb to .msq"), bad.err)
        let missing = try MSQBinary.run(["convert", "nope.msq", "b.ipynb"], cwd: dir)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.err.contains("cannot read nope.msq: no such file"), missing.err)
    }
}
