// swift-tools-version:6.0
// ModSquad: the msq app, built-in plugins and tests on top of the ModSquadKit core
// (a nested package vending one dynamic library; see Sources/ModSquadKit/Package.swift).
import PackageDescription

let package = Package(
    name: "ModSquad",
    products: [
        .executable(name: "msq", targets: ["msq"]),
    ],
    dependencies: [
        .package(path: "Sources/ModSquadKit"),
    ],
    targets: [
        .executableTarget(
            name: "msq",
            dependencies: [.product(name: "ModSquadKit", package: "ModSquadKit"), "BuiltinPlugins",
                           .product(name: "CCairo", package: "ModSquadKit"),
                           .product(name: "CReadline", package: "ModSquadKit")],
            path: "Sources/msq",
            exclude: ["../ModSquadKit"]),
        .target(
            name: "BuiltinPlugins",
            dependencies: [.product(name: "ModSquadKit", package: "ModSquadKit")],
            path: "Plugins/Builtin"),
        .testTarget(
            name: "ModSquadKitTests",
            dependencies: [.product(name: "ModSquadKit", package: "ModSquadKit"), "BuiltinPlugins"],
            path: "Tests/ModSquadKitTests"),
    ],
    swiftLanguageModes: [.v5]
)
