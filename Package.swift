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
        // HMAC-SHA256 signatures of Jupyter messages (msq kernel).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .executableTarget(
            name: "msq",
            dependencies: [.product(name: "ModSquadKit", package: "ModSquadKit"), "BuiltinPlugins",
                           .product(name: "CCairo", package: "ModSquadKit"),
                           .product(name: "CReadline", package: "ModSquadKit"),
                           "CZMQ", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/msq",
            exclude: ["../ModSquadKit"]),
        // ZeroMQ for the Jupyter kernel (msq kernel). zmq.h is in /usr/include; libzmq's pkg-config
        // flags (krb5, pgm include folders) are ones SwiftPM refuses, so none are read.
        .systemLibrary(name: "CZMQ", path: "Sources/CZMQ",
                       providers: [.apt(["libzmq3-dev"])]),
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
