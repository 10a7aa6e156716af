// libFuzzer target: one file loader (FUZZ_LOADER = safetensors, npy, idx, png, manifest, notebook) on arbitrary
// bytes written to a file, as a user's file would arrive: every malformed input must be an error, never a crash.
import Foundation
import CFuzz
import SquadTensor
import SquadNN
import SquadData
import ModSquad
import SquadScript

let loader = ProcessInfo.processInfo.environment["FUZZ_LOADER"] ?? "safetensors"
let folder: URL = {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("msq-fuzz-\(loader)-\(getpid())")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    // images a fuzzed manifest may name
    for (i, name) in ["a.png", "b.png"].enumerated() {
        try? PNG.write(Tensor(repeating: Float(i) * 0.5, shape: [3, 8, 8]), to: u.appendingPathComponent(name))
    }
    return u
}()

func fuzzLoader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data = data else { return 0 }
    let bytes = Data(bytes: data, count: size)
    switch loader {
    case "safetensors":
        let u = folder.appendingPathComponent("f.safetensors")
        try? bytes.write(to: u)
        _ = try? SafeTensors.read(u)
        _ = try? Checkpoint.load(u)
    case "npy":
        let u = folder.appendingPathComponent("f.npy")
        try? bytes.write(to: u)
        _ = try? NPY.read(u)
    case "idx":
        let u = folder.appendingPathComponent("f-ubyte")
        try? bytes.write(to: u)
        _ = try? IDX.read(u)
        let g = folder.appendingPathComponent("f-ubyte.gz")
        try? bytes.write(to: g)
        _ = try? IDX.read(g)
    case "png":
        let u = folder.appendingPathComponent("f.png")
        try? bytes.write(to: u)
        _ = try? PNG.readBytes(u)
    case "manifest":
        let u = folder.appendingPathComponent("manifest.csv")
        try? bytes.write(to: u)
        _ = try? FolderDataset(path: folder.path)
    default:
        let u = folder.appendingPathComponent("f.msq")
        try? bytes.write(to: u)
        _ = try? Notebook.readText(u)
    }
    return 0
}

// libFuzzer's driver with this target as its callback (SwiftPM gives the executable Swift's main).
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzLoader(data, size) }))
