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
    /// The input as a file of this name (loaders read files, as a user's data arrives).
    func file(_ name: String) -> URL {
        let u = folder.appendingPathComponent(name)
        try? bytes.write(to: u)
        return u
    }
    switch loader {
    case "safetensors":
        let u = file("f.safetensors")
        _ = try? SafeTensors.read(u)
        _ = try? Checkpoint.load(u)
    case "npy": _ = try? NPY.read(file("f.npy"))
    case "idx":
        _ = try? IDX.read(file("f-ubyte"))
        _ = try? IDX.read(file("f-ubyte.gz"))
    case "png": _ = try? PNG.readBytes(file("f.png"))
    case "manifest":
        _ = file("manifest.csv")
        _ = try? FolderDataset(path: folder.path)
    default: _ = try? Notebook.readText(file("f.msq"))
    }
    return 0
}

// libFuzzer's driver with this target as its callback (SwiftPM gives the executable Swift's main).
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzLoader(data, size) }))
