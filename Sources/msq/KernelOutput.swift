// Where a kernel cell writes: stream, display_data (PNG plots, tables) and one progress line updated in place, all on IOPub.
import Foundation
import SquadScript

/// The IOPub socket, shared by the shell and control threads under a lock.
final class IOPub {
    let socket: ZSocket
    let wire: Wire
    let lock = NSLock()
    init(socket: ZSocket, wire: Wire) { self.socket = socket; self.wire = wire }

    func publish(_ type: String, _ content: [String: Any], parent: [String: Any]) {
        let frames = wire.encode(type, content: content, parent: parent, identities: [Data("kernel.\(wire.session).\(type)".utf8)])
        lock.lock(); defer { lock.unlock() }
        if !socket.send(frames) { kernelLog("cannot publish \(type) on IOPub") }
    }

    func status(_ state: String, parent: [String: Any]) {
        publish("status", ["execution_state": state], parent: parent)
    }
}

/// A mime bundle for a table: plain text, Markdown and HTML.
func tableBundle(_ t: TableValue) -> [String: Any] {
    func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
    var html = "<table>\n<caption><b>\(esc(t.title))</b></caption>\n<thead><tr>"
    for (i, c) in t.columns.enumerated() { html += "<th style=\"text-align:\(i == 0 ? "left" : "right")\">\(esc(c))</th>" }
    html += "</tr></thead>\n<tbody>\n"
    for r in t.rows {
        html += "<tr>" + ([r.name] + r.cells).enumerated().map { "<td style=\"text-align:\($0.offset == 0 ? "left" : "right")\">\(esc($0.element))</td>" }.joined() + "</tr>\n"
    }
    html += "</tbody>\n</table>"
    if !t.notes.isEmpty { html += "\n" + t.notes.map { "<p><i>\(esc($0))</i></p>" }.joined(separator: "\n") }
    return ["text/plain": t.plain, "text/markdown": t.markdown, "text/html": html]
}

/// A mime bundle for a picture: the PNG (base64) when the file can be read, and its summary.
func imageBundle(_ img: ImageValue) -> (data: [String: Any], metadata: [String: Any]) {
    var data: [String: Any] = ["text/plain": img.summary]
    var meta: [String: Any] = [:]
    if let png = FileManager.default.contents(atPath: img.path) {
        data["image/png"] = png.base64EncodedString()
        if img.width > 0 { meta["image/png"] = ["width": img.width, "height": img.height] }
    }
    return (data, meta)
}

/// The interpreter's output during one execute_request: everything goes to IOPub with that request as parent.
final class KernelOutput: ScriptOutput {
    let iopub: IOPub
    var parent: [String: Any] = [:]
    /// The display id of the progress line being updated, if one is shown.
    var progressID: String?
    /// Everything written as text during this request (for history with output).
    var text = ""

    init(iopub: IOPub) { self.iopub = iopub }

    /// Progress redraws one line in place (update_display_data).
    var isTerminal: Bool { true }

    func write(_ text: String) {
        guard !text.isEmpty else { return }
        self.text += text
        iopub.publish("stream", ["name": "stdout", "text": text], parent: parent)
    }

    func display(_ image: ImageValue) {
        let b = imageBundle(image)
        iopub.publish("display_data", ["data": b.data, "metadata": b.metadata, "transient": [String: Any]()], parent: parent)
    }

    func display(table: TableValue) {
        iopub.publish("display_data", ["data": tableBundle(table), "metadata": [String: Any](), "transient": [String: Any]()], parent: parent)
    }

    func progress(_ line: String) {
        if let id = progressID {
            iopub.publish("update_display_data", ["data": ["text/plain": line], "metadata": [String: Any](), "transient": ["display_id": id]], parent: parent)
        } else {
            let id = "msq-progress-" + UUID().uuidString.lowercased()
            progressID = id
            iopub.publish("display_data", ["data": ["text/plain": line], "metadata": [String: Any](), "transient": ["display_id": id]], parent: parent)
        }
    }

    func endProgress() { progressID = nil }
}

/// The kernel's log: standard error, which Jupyter shows in its own log.
func kernelLog(_ message: String) {
    fputs("msq kernel: \(message)\n", stderr)
    fflush(stderr)
}
