// msq kernel -f CONNECTION_FILE: a Jupyter kernel; shell on the main thread, control and heartbeat on their own threads.
import Foundation
import CZMQ
import SquadScript

enum KernelCommand {
    static let usage = """
    usage: msq kernel -f CONNECTION_FILE          run as a Jupyter kernel (started by Jupyter)
           msq kernel install [--user | --prefix DIR] [--name NAME]
           msq kernel uninstall [--user | --prefix DIR] [--name NAME]
    """

    static func run(_ args: [String]) -> Int32 {
        switch args.first {
        case "install", "uninstall": return KernelSpec.run(args)
        case "-h", "--help": print(usage); return 0
        default: break
        }
        var file: String?
        var i = 0
        while i < args.count {
            switch args[i] {
            case "-f", "--connection-file":
                guard i + 1 < args.count else { fputs("msq kernel: \(args[i]) needs a file\n\(usage)\n", stderr); return 1 }
                file = args[i + 1]; i += 1
            default:
                if args[i].hasPrefix("--f=") { file = String(args[i].dropFirst(4)) } else {
                    fputs("msq kernel: unknown argument '\(args[i])'\n\(usage)\n", stderr); return 1
                }
            }
            i += 1
        }
        guard let path = file else { fputs("msq kernel: a connection file is needed (-f FILE)\n\(usage)\n", stderr); return 1 }
        let kernel: Kernel
        do { kernel = try Kernel(ConnectionInfo.load(path)) } catch {
            fputs("msq kernel: \(error)\n", stderr)
            return 1
        }
        return kernel.serve()
    }
}

/// The interrupt flag, set by SIGINT as by the control channel's interrupt_request.
func installKernelInterruptHandler() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in ScriptInterrupt.request() }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(SIGINT, &action, nil)
}

final class Kernel {
    let context: UnsafeMutableRawPointer
    let shell: ZSocket, control: ZSocket, stdinSocket: ZSocket, heartbeat: ZSocket
    let iopub: IOPub
    let wire: Wire
    let interpreter: Interpreter
    let output: KernelOutput
    var executionCount = 0
    /// (execution count, input, output text) of the cells stored in history.
    var history: [(Int, String, String)] = []
    let shutdownLock = NSLock()
    var shutdownFlag = false
    var shuttingDown: Bool { shutdownLock.lock(); defer { shutdownLock.unlock() }; return shutdownFlag }
    let controlDone = DispatchSemaphore(value: 0)
    let heartbeatDone = DispatchSemaphore(value: 0)

    init(_ c: ConnectionInfo) throws {
        guard let ctx = zmq_ctx_new() else { throw ZMQError("cannot create a ZeroMQ context") }
        context = ctx
        wire = Wire(key: c.key)
        shell = try ZSocket(ctx, type: ZMQ_ROUTER, name: "shell")
        control = try ZSocket(ctx, type: ZMQ_ROUTER, name: "control")
        stdinSocket = try ZSocket(ctx, type: ZMQ_ROUTER, name: "stdin")
        heartbeat = try ZSocket(ctx, type: ZMQ_REP, name: "heartbeat")
        let pub = try ZSocket(ctx, type: ZMQ_PUB, name: "iopub")
        try shell.bind(c.address(c.shell)); try control.bind(c.address(c.control))
        try stdinSocket.bind(c.address(c.stdin)); try heartbeat.bind(c.address(c.hb))
        try pub.bind(c.address(c.iopub))
        iopub = IOPub(socket: pub, wire: wire)
        output = KernelOutput(iopub: iopub)
        interpreter = Interpreter(output: output)
    }

    /// Runs until a shutdown_request; 0 then.
    func serve() -> Int32 {
        installKernelInterruptHandler()
        Thread { [self] in heartbeatLoop() }.start()
        Thread { [self] in controlLoop() }.start()
        iopub.status("starting", parent: [:])
        kernelLog("msq \(MSQCommand.version) kernel started (session \(wire.session))")
        while !shuttingDown {
            guard shell.poll(timeout: 200), let frames = shell.receive() else { continue }
            handle(frames, on: shell, control: false)
        }
        controlDone.wait()
        shell.close(); stdinSocket.close(); iopub.socket.close()
        zmq_ctx_shutdown(context)      // the heartbeat's blocking receive returns; it closes its socket
        heartbeatDone.wait()
        zmq_ctx_term(context)          // sends what is queued (the shutdown reply), within the sockets' linger
        return 0
    }

    func heartbeatLoop() {
        while true {
            if let frames = heartbeat.receive() { heartbeat.send(frames); continue }
            // A signal interrupts the receive: go on unless the context is ending.
            if zmq_errno() == EINTR && !shuttingDown { continue }
            break
        }
        heartbeat.close()
        heartbeatDone.signal()
    }

    func controlLoop() {
        while !shuttingDown {
            guard control.poll(timeout: 100), let frames = control.receive() else { continue }
            handle(frames, on: control, control: true)
        }
        control.close()
        controlDone.signal()
    }

    func requestShutdown() {
        shutdownLock.lock(); shutdownFlag = true; shutdownLock.unlock()
        ScriptInterrupt.request()     // a running cell stops at its next step boundary
    }

    // MARK: dispatch

    /// Decodes, checks and answers one message. Bad signatures are dropped; malformed or unknown ones get an error reply.
    func handle(_ frames: [Data], on socket: ZSocket, control: Bool) {
        let msg: KernelMessage
        do { msg = try wire.decode(frames) } catch WireFault.badSignature {
            kernelLog("dropped a message on \(socket.name) with a bad signature (not executed)")
            return
        } catch WireFault.malformed(let ids, let header, let why) {
            kernelLog("malformed message on \(socket.name): \(why)")
            let type = (header?["msg_type"] as? String).map(Self.replyType) ?? "error"
            socket.send(wire.encode(type, content: Self.errorContent("MalformedMessage", why), parent: header ?? [:], identities: ids))
            return
        } catch {
            kernelLog("dropped a message on \(socket.name) without the <IDS|MSG> delimiter")
            return
        }
        let type = msg.type
        if type.hasPrefix("comm_") && type != "comm_info_request" {
            if type == "comm_open", let id = msg.content["comm_id"] as? String {
                iopub.publish("comm_close", ["comm_id": id, "data": [String: Any]()], parent: msg.header)
            }
            return
        }
        iopub.status("busy", parent: msg.header)
        defer { iopub.status("idle", parent: msg.header) }
        func reply(_ content: [String: Any], metadata: [String: Any] = [:]) {
            if !socket.send(wire.encode(Self.replyType(type), content: content, parent: msg.header, metadata: metadata, identities: msg.identities)) {
                kernelLog("cannot send \(Self.replyType(type)) on \(socket.name)")
            }
        }
        switch type {
        case "kernel_info_request": reply(kernelInfo)
        case "interrupt_request":
            ScriptInterrupt.request()
            reply(["status": "ok"])
        case "shutdown_request":
            reply(["status": "ok", "restart": msg.content["restart"] as? Bool ?? false])
            requestShutdown()
        case "execute_request" where !control: reply(execute(msg))
        case "complete_request" where !control: reply(complete(msg.content))
        case "inspect_request" where !control: reply(inspect(msg.content))
        case "is_complete_request" where !control: reply(isComplete(msg.content))
        case "history_request" where !control: reply(historyReply(msg.content))
        case "comm_info_request" where !control: reply(["status": "ok", "comms": [String: Any]()])
        default:
            kernelLog("unknown message type '\(type)' on \(socket.name)")
            reply(Self.errorContent("UnknownMessageType", "msq does not handle '\(type)' on the \(socket.name) channel"))
        }
    }

    static func replyType(_ type: String) -> String {
        type.hasSuffix("_request") ? String(type.dropLast(8)) + "_reply" : (type.isEmpty ? "error" : type + "_reply")
    }

    static func errorContent(_ name: String, _ value: String) -> [String: Any] {
        ["status": "error", "ename": name, "evalue": value, "traceback": [String]()]
    }

    var kernelInfo: [String: Any] {
        ["status": "ok", "protocol_version": "5.3", "implementation": "msq", "implementation_version": MSQCommand.version,
         "language_info": ["name": "msq", "version": MSQCommand.version, "mimetype": "text/x-msq", "file_extension": ".msq",
                           "pygments_lexer": "python", "codemirror_mode": "python"] as [String: Any],
         "banner": "msq \(MSQCommand.version): the ModSquad language. help() lists builtins; :help name shows one."
            + (ScriptSettings.fast ? " (fast mode: MSQ_FAST is set, sizes are shrunk)" : ""),
         "help_links": [[String: Any]]()]
    }
}
