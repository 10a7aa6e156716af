// msq: the ModSquad command line (doctor, bench, the training example; the REPL later).
import Foundation
import SquadTensor
import SquadNN

BLAS.ensureFastCore()
exit(MSQCommand.run(Array(CommandLine.arguments.dropFirst())))
