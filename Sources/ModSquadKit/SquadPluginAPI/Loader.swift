// Loads outside plugins: dlopen a .so built against this library, check its ABI
// version, call its one @_cdecl entry point with the registry. Any failure is an
// error naming the file; a plugin that throws while registering is rolled back.
import Foundation

/// The C names an outside plugin exports (see docs/plugins.md).
public enum PluginEntryPoint {
    public static let abi = "modsquad_plugin_abi"
    public static let register = "modsquad_plugin_register"
}

/// For plugin authors: the body of `modsquad_plugin_register`. Converts the registry pointer, checks the host's
/// ABI identity against the one this plugin was compiled with (the body is emitted into the plugin), runs `body`,
/// and returns nil or a malloc'ed error message.
@_alwaysEmitIntoClient
public func pluginEntry(_ registry: UnsafeMutableRawPointer?, _ hostABI: Int32,
                        _ body: (PluginRegistry) throws -> Void) -> UnsafeMutablePointer<CChar>? {
    guard let registry = registry else { return strdup("null registry") }
    guard hostABI == pluginABIIdentity else {
        return strdup("plugin built for ABI \(describeABIIdentity(pluginABIIdentity)), host has \(describeABIIdentity(hostABI)); rebuild it against this ModSquad")
    }
    let r = Unmanaged<PluginRegistry>.fromOpaque(registry).takeUnretainedValue()
    do { try body(r); return nil } catch { return strdup("\(error)") }
}

public enum PluginLoader {
    typealias ABIFn = @convention(c) () -> Int32
    typealias RegisterFn = @convention(c) (UnsafeMutableRawPointer?, Int32) -> UnsafeMutablePointer<CChar>?

    /// Loads `path` into `registry`; returns the names it registered.
    @discardableResult
    public static func load(_ path: String, into registry: PluginRegistry = .shared) throws -> [String] {
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: url.path) else { throw PluginError.load(path: path, message: "no such file") }
        // The same library twice would clash with itself name by name; say so once instead.
        let key = url.resolvingSymlinksInPath().standardizedFileURL.path
        if let first = registry.loadedLibraries[key] { throw PluginError.load(path: path, message: "already loaded from \(first)") }
        guard let handle = dlopen(url.path, RTLD_NOW | RTLD_LOCAL) else {
            throw PluginError.load(path: path, message: "cannot load: \(String(cString: dlerror()))")
        }
        // A refused library is never dlclose'd: the Swift runtime registered its metadata and conformances when it
        // was mapped, and unmapping them leaves dangling records that crash the next dynamic cast.
        guard let abiSym = dlsym(handle, PluginEntryPoint.abi), let regSym = dlsym(handle, PluginEntryPoint.register) else {
            throw PluginError.load(path: path, message: "not a ModSquad plugin: it exports no '\(PluginEntryPoint.abi)' and '\(PluginEntryPoint.register)' entry points")
        }
        let abi = unsafeBitCast(abiSym, to: ABIFn.self)()
        guard abi == pluginABIIdentity else {
            throw PluginError.load(path: path, message: "plugin ABI \(describeABIIdentity(abi)), this msq has \(describeABIIdentity(pluginABIIdentity)): the plugin was built against another ModSquadKit; rebuild it against this one")
        }
        let before = registry.snapshot()
        let namesBefore = Set(registry.listing().map { "\($0.kind) \($0.name)" })
        let oldSource = registry.currentSource
        registry.currentSource = url.lastPathComponent
        defer { registry.currentSource = oldSource }
        let err = unsafeBitCast(regSym, to: RegisterFn.self)(Unmanaged.passUnretained(registry).toOpaque(), pluginABIIdentity)
        if let e = err {
            let message = String(cString: e)
            free(e)
            registry.restore(before)   // nothing half-registered stays behind
            throw PluginError.load(path: path, message: "registration failed: \(message)")
        }
        // The library stays loaded: its types are now in use.
        registry.loadedLibraries[key] = path
        return registry.listing().map { "\($0.kind) \($0.name)" }.filter { !namesBefore.contains($0) }
    }
}
