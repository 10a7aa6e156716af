// The Jupyter wire protocol (5.3) over ZeroMQ: sockets, multipart frames, HMAC-SHA256 signatures, JSON headers.
import Foundation
import CZMQ
import Crypto

/// A ZeroMQ error with the call that failed and zmq's own words.
struct ZMQError: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "\(what): \(String(cString: zmq_strerror(zmq_errno())))" }
}

/// One ZeroMQ socket. Each is used by one thread at a time (IOPub is shared under a lock).
final class ZSocket {
    let handle: UnsafeMutableRawPointer
    let name: String

    init(_ context: UnsafeMutableRawPointer, type: Int32, name: String) throws {
        guard let h = zmq_socket(context, type) else { throw ZMQError("cannot create the \(name) socket") }
        handle = h; self.name = name
        var linger: Int32 = 1000
        zmq_setsockopt(h, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
    }

    func bind(_ address: String) throws {
        guard zmq_bind(handle, address) == 0 else { throw ZMQError("cannot bind the \(name) socket to \(address)") }
    }

    func close() { zmq_close(handle) }

    /// Sends frames as one multipart message; false when zmq refused (logged by the caller).
    @discardableResult
    func send(_ frames: [Data]) -> Bool {
        for (i, f) in frames.enumerated() {
            let flags = i + 1 < frames.count ? ZMQ_SNDMORE : 0
            let rc = f.withUnsafeBytes { zmq_send(handle, $0.baseAddress, f.count, flags) }
            if rc < 0 { return false }
        }
        return true
    }

    /// Receives one multipart message (blocking); nil when interrupted by a signal or on error.
    func receive() -> [Data]? {
        var frames: [Data] = []
        while true {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            if zmq_msg_recv(&msg, handle, 0) < 0 { return nil }
            frames.append(Data(bytes: zmq_msg_data(&msg), count: zmq_msg_size(&msg)))
            if zmq_msg_more(&msg) == 0 { return frames }
        }
    }

    /// Waits up to `timeout` ms for a message; false on timeout or a signal.
    func poll(timeout: Int) -> Bool {
        var item = zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        return zmq_poll(&item, 1, timeout) > 0 && item.revents & Int16(ZMQ_POLLIN) != 0
    }
}

/// The connection file a kernel is started with.
struct ConnectionInfo {
    var transport = "tcp", ip = "127.0.0.1", key = "", scheme = "hmac-sha256"
    var shell = 0, iopub = 0, stdin = 0, control = 0, hb = 0

    /// Reads and checks the file; the error says what is wrong with it.
    static func load(_ path: String) throws -> ConnectionInfo {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KernelError("cannot read the connection file \(path): " + (FileManager.default.fileExists(atPath: path) ? "permission denied or a directory" : "no such file"))
        }
        guard let obj = try? JSONSerialization.jsonObject(with: data), let d = obj as? [String: Any] else {
            throw KernelError("the connection file \(path) is not a JSON object")
        }
        var c = ConnectionInfo()
        func port(_ k: String) throws -> Int {
            guard let n = d[k] as? Int, n >= 0, n < 65536 else {
                throw KernelError("the connection file \(path) needs \"\(k)\" as a port number (0-65535), got \(d[k].map { "\($0)" } ?? "nothing")")
            }
            return n
        }
        c.shell = try port("shell_port"); c.iopub = try port("iopub_port"); c.stdin = try port("stdin_port")
        c.control = try port("control_port"); c.hb = try port("hb_port")
        if let t = d["transport"] as? String { c.transport = t }
        guard ["tcp", "ipc"].contains(c.transport) else { throw KernelError("the connection file \(path): transport \"\(c.transport)\" is not tcp or ipc") }
        if let ip = d["ip"] as? String { c.ip = ip }
        if let k = d["key"] as? String { c.key = k }
        if let s = d["signature_scheme"] as? String { c.scheme = s }
        guard c.scheme == "hmac-sha256" || c.key.isEmpty else {
            throw KernelError("the connection file \(path): signature_scheme \"\(c.scheme)\" is not supported (hmac-sha256 is)")
        }
        return c
    }

    func address(_ port: Int) -> String {
        transport == "tcp" ? "tcp://\(ip):\(port)" : "ipc://\(ip)-\(port)"
    }
}

struct KernelError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A decoded message: routing identities, the four JSON parts and any raw buffers.
struct KernelMessage {
    var identities: [Data]
    var header: [String: Any]
    var parent: [String: Any]
    var metadata: [String: Any]
    var content: [String: Any]
    var type: String { header["msg_type"] as? String ?? "" }
    var id: String { header["msg_id"] as? String ?? "" }
}

/// Why an incoming message was not decoded.
enum WireFault: Error {
    case noDelimiter, badSignature
    /// Signed correctly but a JSON part is not an object: the identities allow an error reply.
    case malformed(identities: [Data], header: [String: Any]?, why: String)
}

/// Signs and checks messages with the connection key; builds headers for this kernel's session.
final class Wire {
    let key: SymmetricKey?
    let session = UUID().uuidString.lowercased()
    static let delimiter = Data("<IDS|MSG>".utf8)
    static let dateFormatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
    let dateLock = NSLock()

    init(key: String) { self.key = key.isEmpty ? nil : SymmetricKey(data: Data(key.utf8)) }

    func signature(_ parts: [Data]) -> Data {
        guard let key else { return Data() }
        var h = HMAC<SHA256>(key: key)
        for p in parts { h.update(data: p) }
        return Data(Data(h.finalize()).map { String(format: "%02x", $0) }.joined().utf8)
    }

    /// Splits frames at the delimiter, checks the signature (constant time) and parses the JSON parts.
    func decode(_ frames: [Data]) throws -> KernelMessage {
        guard let d = frames.firstIndex(of: Wire.delimiter), frames.count >= d + 6 else { throw WireFault.noDelimiter }
        let ids = Array(frames[..<d])
        let parts = Array(frames[(d + 2)..<(d + 6)])
        if key != nil {
            let expected = [UInt8](signature(parts)), got = [UInt8](frames[d + 1])
            guard expected.count == got.count else { throw WireFault.badSignature }
            var diff: UInt8 = 0
            for (a, b) in zip(expected, got) { diff |= a ^ b }
            guard diff == 0 else { throw WireFault.badSignature }
        }
        var dicts: [[String: Any]] = []
        let names = ["header", "parent_header", "metadata", "content"]
        for (i, p) in parts.enumerated() {
            guard let o = try? JSONSerialization.jsonObject(with: p, options: [.fragmentsAllowed]), let dict = o as? [String: Any] else {
                throw WireFault.malformed(identities: ids, header: dicts.first, why: "the \(names[i]) part is not a JSON object")
            }
            dicts.append(dict)
        }
        return KernelMessage(identities: ids, header: dicts[0], parent: dicts[1], metadata: dicts[2], content: dicts[3])
    }

    func header(_ type: String) -> [String: Any] {
        dateLock.lock(); let date = Wire.dateFormatter.string(from: Date()); dateLock.unlock()
        return ["msg_id": UUID().uuidString.lowercased(), "session": session, "username": "msq",
                "date": date, "msg_type": type, "version": "5.3"]
    }

    /// The frames of a message of `type` answering `parent` (its header), to `identities`.
    func encode(_ type: String, content: [String: Any], parent: [String: Any], metadata: [String: Any] = [:], identities: [Data]) -> [Data] {
        let parts = [json(header(type)), json(parent), json(metadata), json(content)]
        return identities + [Wire.delimiter, signature(parts)] + parts
    }

    func json(_ o: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: o, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
    }
}
