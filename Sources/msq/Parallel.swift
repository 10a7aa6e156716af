// msq under mpirun: MPI is started (libmpi loaded lazily) only when mpirun launched this process;
// ranks other than 0 run silently; `msq bench allreduce` times the gradient all-reduce of configs a and b.
import Foundation
import SquadTensor
import ModSquad
import SquadScript

enum Parallel {
    /// Starts MPI when launched by mpirun; a failure names the rank and ends this process (mpirun ends the rest).
    static func start() -> Bool {
        guard MPICommunicator.launchedByMPI else { return true }
        do { Distributed.world = try MPICommunicator() } catch {
            fputs("msq: rank \(MPICommunicator.launchRank.map(String.init) ?? "?"): \(error)\n", stderr)
            return false
        }
        return true
    }

    /// Called at the end of a run: MPI_Finalize (every rank) so mpirun sees a clean exit.
    static func finish() { (Distributed.world as? MPICommunicator)?.finalize() }

    /// A failing rank of a parallel run: its message with the rank, then the whole job ends (never a hang).
    static func failJob(_ message: String) {
        fflush(stdout)
        fputs("msq: rank \(Distributed.rank) of \(Distributed.size) failed: \(message)\n", stderr)
        fflush(stderr)
        Distributed.world.abort(code: 1)
    }

    static var doctorLine: String {
        let lib = (try? MPICommunicator.openLibrary()) != nil
        if Distributed.isParallel {
            return "MPI: rank \(Distributed.rank) of \(Distributed.size), \(Distributed.world.transport)"
        }
        return "MPI: " + (lib ? "libmpi found (run under mpirun -np N for data-parallel training); this process is 1 of 1"
                              : "libmpi not found (apt-get install openmpi-bin libopenmpi-dev for mpirun); this process is 1 of 1")
    }

    /// The gradient all-reduce of configs a and b: one packed buffer of every trainable parameter (+1 flag each).
    static func benchAllReduce(_ o: BenchOptions, configs: [String]) throws -> [[String: Any]] {
        var rows: [[String: Any]] = []
        let n = Distributed.size
        for name in configs {
            let s = try BenchModel.setup(name, experts: o.experts, topK: o.topK)
            let params = try SquadModel(s.config).trainableParameters().map(\.tensor)
            for p in params { p.grad = Tensor(repeating: 0.001, shape: p.shape) }
            let count = params.reduce(0) { $0 + $1.count }
            let times = try timeRuns(o.reps) {
                try Distributed.world.barrier()
                try Distributed.averageGradients(params)
            }
            // Each rank's median, averaged over the ranks (they wait for each other, so they agree closely).
            let worst = try Distributed.sum([median(times)]).first! / Double(n)
            let bytes = Double(count + params.count) * 4
            let bus = n > 1 ? bytes * 2 * Double(n - 1) / Double(n) / worst / 1e9 : 0
            if Distributed.isRoot && !o.json {
                print(String(format: "allreduce config %@: %d params (%.2f MB fp32), %d rank%@: median %.2f ms, bus bandwidth %.2f GB/s",
                             name, count, bytes / 1e6, n, n == 1 ? "" : "s", worst * 1e3, bus))
            }
            rows.append(["bench": "allreduce", "config": name, "params": count, "bytes": bytes, "ranks": n,
                         "median_s": worst, "bus_gbps": bus, "transport": Distributed.world.transport])
        }
        return rows
    }
}

/// Output of ranks other than 0: nothing (their errors go to stderr with the rank).
final class SilentOutput: ScriptOutput {
    var isTerminal: Bool { false }
    func write(_ text: String) {}
    func display(_ image: ImageValue) {}
    func display(table: TableValue) {}
    func progress(_ line: String) {}
    func endProgress() {}
}
