// msq: the ModSquad command line: the REPL, run, doctor, bench, example.
import Foundation
import SquadTensor
import SquadNN
import BuiltinPlugins

BLAS.ensureFastCore()
do { try BuiltinPlugins.register() } catch {
    FileHandle.standardError.write("msq: built-in plugins failed to register: \(error)\n".data(using: .utf8)!)
    exit(1)
}
exit(MSQCommand.run(Array(CommandLine.arguments.dropFirst())))
