// swift-tools-version:6.0
// The ModSquad core: one dynamic library (ModSquadKit) that the app, the built-in
// plugins and outside plugins all link, so Swift types are shared across dlopen.
import PackageDescription

// Kernels are compiled optimised in every configuration: debug Swift loops are
// 10-100x slower, and the tests train small models.
// Debug builds stay per-file (whole-module mode breaks SwiftPM's debug index store).
let fast: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"], .when(configuration: .release)),
    .unsafeFlags(["-Ounchecked", "-no-whole-module-optimization", "-target-cpu", "haswell"], .when(configuration: .debug)),
]

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
                swiftSettings: fast),
        .target(name: "ModSquad", dependencies: ["SquadTensor", "SquadNN"], path: "ModSquad",
                swiftSettings: fast),
        .target(name: "SquadPluginAPI", dependencies: ["SquadTensor", "SquadNN", "ModSquad"], path: "SquadPluginAPI",
                swiftSettings: fast),
        .target(name: "SquadData", dependencies: ["SquadTensor", "SquadNN", "ModSquad", "SquadPluginAPI", "CZlib", "CCairo"], path: "SquadData",
                swiftSettings: fast),
        .target(name: "SquadPlot", dependencies: ["SquadTensor", "ModSquad", "SquadPluginAPI", "CCairo"], path: "SquadPlot",
                swiftSettings: fast),
        .target(name: "SquadScript", dependencies: ["SquadTensor", "SquadNN", "ModSquad", "SquadPluginAPI", "SquadData", "SquadPlot"],
                path: "SquadScript", swiftSettings: fast),
    ],
    swiftLanguageModes: [.v5]
)
