// Sub-command dispatch for msq: the REPL (no arguments), run, doctor / --version, bench, example, kernel, convert.
import Foundation
import SquadTensor
import CCairo
import CReadline
import SquadPluginAPI

enum MSQCommand {
    static let version = "0.1.0"

    static func run(_ arguments: [String]) -> Int32 {
        // Leading `--plugin PATH` options load outside plugins before any command (the REPL included).
        // A plugin that fails to load is reported and skipped: msq keeps running (docs/plugins.md).
        var args = arguments
        while args.first == "--plugin" {
            guard args.count >= 2 else { fputs("msq: --plugin needs a path to a .so\n", stderr); return 2 }
            do { try PluginLoader.load(args[1]) } catch {
                fputs("msq: --plugin \(args[1]): \(error) (not loaded; continuing without it)\n", stderr)
            }
            args.removeFirst(2)
        }
        guard let cmd = args.first else { return REPL().run() }
        // Under mpirun: MPI starts for the commands that use it; the REPL and the rest stay single-process.
        if ["run", "bench", "doctor"].contains(cmd) {
            guard Parallel.start() else { return 1 }
        }
        defer { Parallel.finish() }
        do {
            switch cmd {
            case "doctor", "--version", "version": print(doctor()); return 0
            case "run": return RunCommand.run(Array(args.dropFirst()))
            case "repl": return REPL().run()
            case "bench": return try Bench.run(Array(args.dropFirst()))
            case "example": return try Example.run(Array(args.dropFirst()))
            case "kernel": return KernelCommand.run(Array(args.dropFirst()))
            case "convert": return ConvertCommand.run(Array(args.dropFirst()))
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
    usage: msq [--plugin PATH.so ...] [<command>]
      (no command)               the REPL: the msq language with readline, history and completion
      run nb.msq [--report out.md] [--ipynb out.ipynb] [--keep-going] [--fast]
                                 run a notebook cell by cell (exit 1 on the first failing cell)
      doctor | --version         versions, BLAS core and threads in use
      bench gemm|kernels|train|infer|memory|allreduce [--config a|b|vit] [--experts N] [--top-k K]
        [--threads N] [--steps N] [--extracted [--save DIR]] [--checkpoint FILE] [--json]
                             benchmarks: medians, GFLOP/s, peak RSS (docs/performance.md)
      example [--steps N]        train a small ViT on a toy task (the engine's smoke run)
      kernel -f CONNECTION_FILE  the Jupyter kernel (kernel install [--user | --prefix DIR] writes its kernelspec)
      convert a.msq a.ipynb      a notebook to Jupyter's format and back (no execution)
    """

    /// One rank of several prints nothing but errors (doctor prints on every rank: it says which rank it is).
    static func doctor() -> String {
        let cairo = String(cString: cairo_version_string())
        return """
        msq \(version)
        BLAS: OpenBLAS core \(BLAS.coreName), \(BLAS.threads) BLAS thread(s) × \(Engine.threads) engine threads (\(BLAS.config))
        OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")
        engine threads: \(Engine.threads)
        \(Parallel.doctorLine)
        cairo \(cairo), readline \(String(format: "%d.%d", msq_rl_readline_version() >> 8, msq_rl_readline_version() & 0xff))
        """
    }
}
