// swift-tools-version:6.0
// The ModSquad core: one dynamic library (ModSquadKit) that the app, the built-in
// plugins and outside plugins all link, so Swift types are shared across dlopen.
import PackageDescription

// Every module is compiled optimised in every configuration: debug Swift loops are
// 10-100x slower, and the tests train small models.
// Debug builds stay per-file (whole-module mode breaks SwiftPM's debug index store).
// -Ounchecked (no overflow or precondition traps) only where the kernels are: tensor ops and the MoE layers.
// The rest, which user input reaches first (language, data, file I/O, optimizers, plugin API, plots), keeps
// Swift's checks, so a bug there traps instead of running on as undefined behaviour; `msq bench` measured the
// training step the same either way (docs/performance.md, "Checked builds").
func optimised(_ mode: String) -> [SwiftSetting] {
    [.unsafeFlags([mode, "-target-cpu", "haswell"], .when(configuration: .release)),
     .unsafeFlags([mode, "-no-whole-module-optimization", "-target-cpu", "haswell"], .when(configuration: .debug))]
}
let fast = optimised("-Ounchecked"), checked = optimised("-O")

let package = Package(
    name: "ModSquadKit",
    products: [
        .library(name: "ModSquadKit", type: .dynamic, targets: ["SquadTensor", "SquadNN", "ModSquad", "SquadPluginAPI", "SquadData", "SquadPlot", "SquadScript"]),
        // System-library products carry no type and one target each.
        .library(name: "CCairo", targets: ["CCairo"]),
        .library(name: "CReadline", targets: ["CReadline"]),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CCairo", path: "CCairo", pkgConfig: "cairo",
                       providers: [.apt(["libcairo2-dev"])]),
        .systemLibrary(name: "CReadline", path: "CReadline",
                       providers: [.apt(["libreadline-dev"])]),
        .systemLibrary(name: "CZlib", path: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .target(name: "SquadTensor", dependencies: ["CBLAS"], path: "SquadTensor",
                swiftSettings: fast),
        .target(name: "SquadNN", dependencies: ["SquadTensor"], path: "SquadNN",
                swiftSettings: checked),
        .target(name: "ModSquad", dependencies: ["SquadTensor", "SquadNN"], path: "ModSquad",
                swiftSettings: fast),
        .target(name: "SquadPluginAPI", dependencies: ["SquadTensor", "SquadNN", "ModSquad"], path: "SquadPluginAPI",
                swiftSettings: checked),
        .target(name: "SquadData", dependencies: ["SquadTensor", "SquadNN", "ModSquad", "SquadPluginAPI", "CZlib", "CCairo"], path: "SquadData",
                swiftSettings: checked),
        .target(name: "SquadPlot", dependencies: ["SquadTensor", "ModSquad", "SquadPluginAPI", "CCairo"], path: "SquadPlot",
                swiftSettings: checked),
        .target(name: "SquadScript", dependencies: ["SquadTensor", "SquadNN", "ModSquad", "SquadPluginAPI", "SquadData", "SquadPlot"],
                path: "SquadScript", swiftSettings: checked),
    ],
    swiftLanguageModes: [.v5]
)
