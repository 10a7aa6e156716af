// libFuzzer target: the language's lexer, parser and evaluator on arbitrary bytes, with the core builtins that
// neither train, plot nor touch files (help, len, print, plugins): any crash, hang or runaway allocation is a bug.
import Foundation
import CFuzz
import SquadScript

final class NullOutput: ScriptOutput {
    func write(_ text: String) {}
    func display(_ image: ImageValue) {}
    func display(table: TableValue) {}
    var isTerminal: Bool { false }
    func progress(_ line: String) {}
    func endProgress() {}
}

let table: BuiltinTable = {
    let t = BuiltinTable(core: false)
    for name in ["help", "len", "print", "plugins"] { if let b = BuiltinTable.shared.lookup(name) { t.register(b) } }
    return t
}()
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("msq-fuzz-script")

func fuzzScript(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data = data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let interp = Interpreter(output: NullOutput(), table: table, directory: directory)
    _ = try? interp.run(SourceFile(name: "fuzz.msq", text: text))
    _ = Parser.isIncomplete(text)
    return 0
}

// libFuzzer's driver with this target as its callback (SwiftPM gives the executable Swift's main).
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzScript(data, size) }))
