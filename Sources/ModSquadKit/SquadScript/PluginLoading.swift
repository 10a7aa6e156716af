// load_plugin's loader: hands a .so path to the plugin API's loader (ABI check, rollback on failure).
import Foundation
import SquadPluginAPI

func loadPluginLibrary(_ path: String, registry: PluginRegistry) throws {
    guard FileManager.default.fileExists(atPath: path) else { throw ScriptError(.value, "load_plugin: no file at \(path)") }
    do { try PluginLoader.load(path, into: registry) }
    catch let e as PluginError { throw ScriptError(.runtime, "load_plugin: \(e.description)") }
}
