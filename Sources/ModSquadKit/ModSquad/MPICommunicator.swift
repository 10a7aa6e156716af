// Open MPI loaded lazily with dlopen (RTLD_GLOBAL, so its own plugins resolve), only when msq runs under
// mpirun: a plain msq needs neither MPI's headers to build nor libmpi to run. Handles are Open MPI's
// predefined objects (MPI_COMM_WORLD is &ompi_mpi_comm_world, and so on), looked up by name.
import Foundation

public final class MPICommunicator: Communicator {
    typealias Handle = UnsafeMutableRawPointer
    private typealias InitFn = @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32
    private typealias CommIntFn = @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    private typealias AllreduceFn = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer, Int32, Handle, Handle, Handle) -> Int32
    private typealias BcastFn = @convention(c) (UnsafeMutableRawPointer, Int32, Handle, Int32, Handle) -> Int32
    private typealias CommFn = @convention(c) (Handle) -> Int32
    private typealias AbortFn = @convention(c) (Handle, Int32) -> Int32
    private typealias VoidFn = @convention(c) () -> Int32
    private typealias VersionFn = @convention(c) (UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32

    public let rank: Int, size: Int
    public let transport: String
    private let comm: Handle, float: Handle, double: Handle, sum: Handle
    private let allreduce: AllreduceFn, bcast: BcastFn, barrierFn: CommFn, abortFn: AbortFn, finalizeFn: VoidFn

    /// True when this process was started by mpirun (Open MPI or PMIx set these).
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    /// The rank mpirun gave this process, read before MPI is initialised (for messages).
    public static var launchRank: Int? { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"].flatMap { Int($0) } }

    public static func openLibrary() throws -> UnsafeMutableRawPointer {
        var errors: [String] = []
        for name in ["libmpi.so.40", "libmpi.so"] {
            if let h = dlopen(name, RTLD_NOW | RTLD_GLOBAL) { return h }
            errors.append(dlerror().map { String(cString: $0) } ?? name)
        }
        throw DistributedError.unavailable("cannot load libmpi (\(errors.joined(separator: "; "))); install openmpi-bin and libopenmpi-dev")
    }

    /// Loads libmpi and calls MPI_Init.
    public init() throws {
        let lib = try MPICommunicator.openLibrary()
        func sym(_ name: String) throws -> Handle {
            guard let p = dlsym(lib, name) else { throw DistributedError.unavailable("libmpi has no symbol \(name) (not Open MPI?)") }
            return p
        }
        func fn<T>(_ name: String, _: T.Type) throws -> T { unsafeBitCast(try sym(name), to: T.self) }
        comm = try sym("ompi_mpi_comm_world"); float = try sym("ompi_mpi_float"); double = try sym("ompi_mpi_double")
        sum = try sym("ompi_mpi_op_sum")
        allreduce = try fn("MPI_Allreduce", AllreduceFn.self)
        bcast = try fn("MPI_Bcast", BcastFn.self)
        barrierFn = try fn("MPI_Barrier", CommFn.self)
        abortFn = try fn("MPI_Abort", AbortFn.self)
        finalizeFn = try fn("MPI_Finalize", VoidFn.self)
        let initFn = try fn("MPI_Init", InitFn.self)
        let r0 = MPICommunicator.launchRank ?? -1
        let rc = initFn(nil, nil)
        guard rc == 0 else { throw DistributedError.mpi(call: "MPI_Init", code: rc, rank: r0) }
        var v: Int32 = 0
        let rankFn = try fn("MPI_Comm_rank", CommIntFn.self), sizeFn = try fn("MPI_Comm_size", CommIntFn.self)
        var code = rankFn(comm, &v)
        guard code == 0 else { throw DistributedError.mpi(call: "MPI_Comm_rank", code: code, rank: r0) }
        rank = Int(v)
        code = sizeFn(comm, &v)
        guard code == 0 else { throw DistributedError.mpi(call: "MPI_Comm_size", code: code, rank: rank) }
        size = Int(v)
        var name = [CChar](repeating: 0, count: 512), len: Int32 = 0
        if let ver = try? fn("MPI_Get_library_version", VersionFn.self), ver(&name, &len) == 0 {
            let s = String(cString: name).split(separator: ",").first.map(String.init) ?? "MPI"
            let btl = ProcessInfo.processInfo.environment["OMPI_MCA_btl"].map { ", btl \($0)" } ?? ", btl: Open MPI's choice (shared memory on one host, TCP across hosts)"
            transport = s.trimmingCharacters(in: .whitespaces) + btl
        } else { transport = "MPI" }
    }

    /// Largest element count of one MPI call (its count is a C int).
    static let chunk = 1 << 28

    private func reduce(_ p: UnsafeMutableRawPointer, count: Int, stride: Int, type: Handle) throws {
        var o = 0
        while o < count {
            let n = min(MPICommunicator.chunk, count - o)
            // MPI_IN_PLACE is (void *) 1 in Open MPI.
            let rc = allreduce(UnsafeRawPointer(bitPattern: 1), p + o * stride, Int32(n), type, sum, comm)
            guard rc == 0 else { throw DistributedError.mpi(call: "MPI_Allreduce", code: rc, rank: rank) }
            o += n
        }
    }

    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        try reduce(UnsafeMutableRawPointer(buffer), count: count, stride: 4, type: float)
    }

    public func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {
        try reduce(UnsafeMutableRawPointer(buffer), count: count, stride: 8, type: double)
    }

    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {
        var o = 0
        while o < count {
            let n = min(MPICommunicator.chunk, count - o)
            let rc = bcast(UnsafeMutableRawPointer(buffer + o), Int32(n), float, Int32(root), comm)
            guard rc == 0 else { throw DistributedError.mpi(call: "MPI_Bcast", code: rc, rank: rank) }
            o += n
        }
    }

    public func barrier() throws {
        let rc = barrierFn(comm)
        guard rc == 0 else { throw DistributedError.mpi(call: "MPI_Barrier", code: rc, rank: rank) }
    }

    public func abort(code: Int32) { _ = abortFn(comm, code) }

    public func finalize() { _ = finalizeFn() }
}
