// swift-tools-version:6.0
// An outside ModSquad plugin, built as its own package: a "colorize" task (predict
// each pixel's chroma) and a "colorfulness" aux loss. `swift build` here gives
// .build/debug/libColorization.so, which `msq --plugin PATH` or load_plugin(PATH) loads.
import PackageDescription

let package = Package(
    name: "Colorization",
    products: [.library(name: "Colorization", type: .dynamic, targets: ["Colorization"])],
    dependencies: [.package(path: "../../../Sources/ModSquadKit")],
    targets: [
        .target(name: "Colorization", dependencies: [.product(name: "ModSquadKit", package: "ModSquadKit")],
                path: "Sources/Colorization"),
    ],
    swiftLanguageModes: [.v5]
)
