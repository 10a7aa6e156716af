// load_plugin's loader: a .so goes to the plugin API's loader (ABI check, rollback on failure); a plugin package
// folder (with Package.swift) is built first with `swift build`, its output shown line by line, then its .so loaded.
import Foundation
import SquadPluginAPI

func loadPluginLibrary(_ path: String, registry: PluginRegistry) throws {
    guard FileManager.default.fileExists(atPath: path) else { throw ScriptError(.value, "load_plugin: no file at \(path)") }
    do { try PluginLoader.load(path, into: registry) }
    catch let e as PluginError { throw ScriptError(.runtime, "load_plugin: \(e.description)") }
}

/// Builds the plugin package in `dir` (`swift build -c CONFIG`, its own `.build` unless `scratch` is given) and
/// returns the shared libraries it produced. Build output goes to `output` as it comes.
func buildPluginPackage(_ dir: URL, configuration: String, scratch: URL?, output: ScriptOutput) throws -> [String] {
    func swiftBuild(_ extra: [String]) throws -> (status: Int32, text: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["swift", "build", "-c", configuration, "--package-path", dir.path] + (scratch.map { ["--scratch-path", $0.path] } ?? []) + extra
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        do { try p.run() } catch { throw ScriptError(.runtime, "load_plugin: cannot run swift build: \(error)") }
        var text = ""
        let h = pipe.fileHandleForReading
        while true {
            let d = h.availableData
            if d.isEmpty { break }
            let chunk = String(decoding: d, as: UTF8.self)
            text += chunk
            if extra.isEmpty { output.write(chunk) }
        }
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }
    output.write("load_plugin: building \(dir.lastPathComponent) (swift build -c \(configuration); the first build compiles the core too)\n")
    let built = try swiftBuild([])
    guard built.status == 0 else {
        throw ScriptError(.runtime, "load_plugin: swift build of \(dir.path) failed (exit \(built.status))",
                          hint: built.text.split(separator: "\n").filter { $0.contains("error:") }.prefix(3).joined(separator: "\n"))
    }
    let bin = try swiftBuild(["--show-bin-path"])
    let binDir = URL(fileURLWithPath: bin.text.trimmingCharacters(in: .whitespacesAndNewlines))
    let libs = ((try? FileManager.default.contentsOfDirectory(atPath: binDir.path)) ?? [])
        .filter { $0.hasPrefix("lib") && $0.hasSuffix(".so") && $0 != "libModSquadKit.so" }.sorted()
        .map { binDir.appendingPathComponent($0).path }
    guard !libs.isEmpty else { throw ScriptError(.runtime, "load_plugin: building \(dir.path) produced no plugin library in \(binDir.path)") }
    return libs
}
