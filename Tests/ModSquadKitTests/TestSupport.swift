// Shared test helpers: fixture paths, tolerant comparisons, temporary folders.
import Foundation
import XCTest
import SquadTensor

enum Fixtures {
    /// Tests/Fixtures/<name>, found from this source file's location.
    static func url(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
    }
    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// The folders temporaryDirectory made in this test process; removed when it exits (MSQ_KEEP_TEST_FILES=1 keeps them).
nonisolated(unsafe) private var madeFolders: [String] = []
private let madeFoldersLock = NSLock()
private let removeAtExit: Void = {
    atexit {
        guard ProcessInfo.processInfo.environment["MSQ_KEEP_TEST_FILES"] == nil else { return }
        for p in madeFolders { try? FileManager.default.removeItem(atPath: p) }
    }
}()

/// A fresh folder under the system's temporary folder, removed when the test process ends.
func temporaryDirectory(_ tag: String = "msq") -> URL {
    _ = removeAtExit
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("\(tag)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    madeFoldersLock.lock(); madeFolders.append(u.path); madeFoldersLock.unlock()
    return u
}

/// Asserts |a − b| ≤ atol + rtol·|b| elementwise, naming the first bad index.
func assertClose(_ a: Tensor, _ b: Tensor, atol: Float = 1e-5, rtol: Float = 1e-4, _ msg: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "shape \(msg)", file: file, line: line)
    guard a.count == b.count else { return }
    for i in 0..<a.count {
        let x = a.data[i], y = b.data[i]
        if !(Swift.abs(x - y) <= atol + rtol * Swift.abs(y)) {
            XCTFail("\(msg) index \(i): \(x) vs \(y)", file: file, line: line)
            return
        }
    }
}

/// Runs python3 with a script; returns nil when python3 or its modules are missing.
@discardableResult
func runPython(_ script: String, args: [String] = []) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", script] + args
    let pipe = Pipe()
    p.standardOutput = pipe; p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Compiles C source into a shared library in a temp folder (plugin loader tests); returns its path.
func cLibrary(_ name: String, _ source: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let dir = temporaryDirectory("plugin-c")
    let src = dir.appendingPathComponent("\(name).c"), lib = dir.appendingPathComponent("lib\(name).so")
    try source.write(to: src, atomically: true, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["cc", "-shared", "-fPIC", "-o", lib.path, src.path]
    try p.run(); p.waitUntilExit()
    XCTAssertEqual(p.terminationStatus, 0, "cc \(name)", file: file, line: line)
    return lib.path
}
