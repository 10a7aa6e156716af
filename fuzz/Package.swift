// swift-tools-version:6.0
// Coverage-guided fuzzers (libFuzzer) for the language and the file loaders; see fuzz/README.md.
// Built only with `bash fuzz/run.sh`, which instruments every module (ASan + coverage for libFuzzer).
import PackageDescription

// The executables link libFuzzer; the library (a .so) gets coverage and ASan from run.sh's -Xswiftc flags.
let fuzzer: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]
let fuzzerLink: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]   // gold fails on these links

let package = Package(
    name: "ModSquadFuzz",
    dependencies: [.package(path: "../Sources/ModSquadKit")],
    targets: [
        .target(name: "CFuzz", path: "Sources/CFuzz"),
        .executableTarget(name: "FuzzScript", dependencies: ["CFuzz", .product(name: "ModSquadKit", package: "ModSquadKit")],
                          path: "Sources/FuzzScript", swiftSettings: fuzzer, linkerSettings: fuzzerLink),
        .executableTarget(name: "FuzzLoaders", dependencies: ["CFuzz", .product(name: "ModSquadKit", package: "ModSquadKit")],
                          path: "Sources/FuzzLoaders", swiftSettings: fuzzer, linkerSettings: fuzzerLink),
    ],
    swiftLanguageModes: [.v5]
)
