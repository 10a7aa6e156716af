// Sub-command dispatch for msq: doctor / --version, bench, example.
import Foundation
import SquadTensor
import CCairo
import CReadline

enum MSQCommand {
    static let version = "0.1.0"

    static func run(_ args: [String]) -> Int32 {
        guard let cmd = args.first else {
            print(usage)
            return 0
        }
        do {
            switch cmd {
            case "doctor", "--version", "version": print(doctor()); return 0
            case "bench": return try Bench.run(Array(args.dropFirst()))
            case "example": return try Example.run(Array(args.dropFirst()))
            case "-h", "--help", "help": print(usage); return 0
            default:
                FileHandle.standardError.write("msq: unknown command '\(cmd)'\n\(usage)\n".data(using: .utf8)!)
                return 2
            }
        } catch {
            FileHandle.standardError.write("msq \(cmd): \(error)\n".data(using: .utf8)!)
            return 1
        }
    }

    static let usage = """
    usage: msq <command>
      doctor | --version         versions, BLAS core and threads in use
      bench gemm|kernels [...]   engine benchmarks (--threads N, --size N, --json)
      example [--steps N]        train a small ViT on a toy task (the engine's smoke run)
    """

    static func doctor() -> String {
        let cairo = String(cString: cairo_version_string())
        return """
        msq \(version)
        BLAS: OpenBLAS core \(BLAS.coreName), \(BLAS.threads) BLAS thread(s) × \(Engine.threads) engine threads (\(BLAS.config))
        OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")
        engine threads: \(Engine.threads)
        cairo \(cairo), readline \(String(format: "%d.%d", msq_rl_readline_version() >> 8, msq_rl_readline_version() & 0xff))
        """
    }
}
