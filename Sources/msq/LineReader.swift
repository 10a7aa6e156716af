// Line input for the REPL: GNU readline (callback mode, so Ctrl-C at the prompt clears the line) with history and completion, or plain lines when stdin is not a terminal.
import Foundation
import CReadline
import SquadScript

enum ReadResult { case line(String), eof, interrupted }

protocol LineReader: AnyObject {
    func read(prompt: String) -> ReadResult
    func addHistory(_ entry: String)
    /// Earlier lines of the entry being typed (named-argument completion inside a multi-line call).
    var pending: String { get set }
}

/// Reads lines without prompts or echo (pipes, files).
final class PlainReader: LineReader {
    var pending = ""
    func read(prompt: String) -> ReadResult {
        while true {
            if let l = Swift.readLine(strippingNewline: true) { return .line(l) }
            if ScriptInterrupt.take() { clearerr(stdin); return .interrupted }
            return .eof
        }
    }
    func addHistory(_ entry: String) {}
}

// Readline calls back into C function pointers: the state they need lives here.
nonisolated(unsafe) private var rlCompletedLine: UnsafeMutablePointer<CChar>? = nil
nonisolated(unsafe) private var rlDone = false
nonisolated(unsafe) private var rlMatches: [String] = []
nonisolated(unsafe) private weak var activeReader: ReadlineReader? = nil

private let lineHandler: @convention(c) (UnsafeMutablePointer<CChar>?) -> Void = { line in
    rlCompletedLine = line
    rlDone = true
    rl_callback_handler_remove()
}

private let matchGenerator: @convention(c) (UnsafePointer<CChar>?, Int32) -> UnsafeMutablePointer<CChar>? = { _, state in
    let i = Int(state)
    guard i < rlMatches.count else { return nil }
    return strdup(rlMatches[i])
}

private let completionFunction: @convention(c) (UnsafePointer<CChar>?, Int32, Int32) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = { text, _, end in
    guard let reader = activeReader, let text = text else { return nil }
    let word = String(cString: text)
    var before = ""
    if let buf = msq_rl_line_buffer() {
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(buf).assumingMemoryBound(to: UInt8.self), count: Int(end))
        before = String(decoding: bytes, as: UTF8.self)
    }
    if !reader.pending.isEmpty { before = reader.pending + "\n" + before }
    guard let matches = Completer.complete(reader.interpreter, before: before, word: word) else {
        return nil   // file names (readline's default)
    }
    msq_rl_attempted_completion_over(1)
    guard !matches.isEmpty else { return nil }
    rlMatches = matches
    if matches.count == 1 {
        let m = matches[0]
        if m.hasSuffix(":") || m.hasPrefix(":") { msq_rl_set_append_character(32) }
        else if reader.interpreter.variables[m] == nil, reader.interpreter.table.lookup(m) != nil { msq_rl_set_append_character(40) }   // "("
        else { msq_rl_set_append_character(0) }
    }
    return msq_rl_completion_matches(text, matchGenerator)
}

/// Readline keeps the pointer: one C string for the process.
private let wordBreaks: UnsafePointer<CChar> = UnsafePointer(strdup(Completer.wordBreaks)!)

final class ReadlineReader: LineReader {
    let interpreter: Interpreter
    let historyPath: String
    var pending = ""

    init(interpreter: Interpreter, historyPath: String) {
        self.interpreter = interpreter
        self.historyPath = historyPath
        activeReader = self
        msq_rl_set_readline_name("msq")
        msq_rl_set_catch_signals(0)
        msq_rl_set_completion(completionFunction)
        msq_rl_set_completer_word_break_characters(wordBreaks)
        using_history()
        if !FileManager.default.fileExists(atPath: historyPath) {
            _ = FileManager.default.createFile(atPath: historyPath, contents: nil)
        }
        _ = history_truncate_file(historyPath, 2000)
        _ = read_history(historyPath)
    }

    func read(prompt: String) -> ReadResult {
        rlCompletedLine = nil
        rlDone = false
        rl_callback_handler_install(prompt, lineHandler)
        while !rlDone {
            var fds = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let r = poll(&fds, 1, -1)
            if r < 0 {
                if errno == EINTR {
                    if ScriptInterrupt.take() {
                        msq_rl_abandon_line()
                        fputs("\n", stdout); fflush(stdout)
                        return .interrupted
                    }
                    continue
                }
                rl_callback_handler_remove()
                return .eof
            }
            rl_callback_read_char()
        }
        guard let p = rlCompletedLine else { fputs("\n", stdout); fflush(stdout); return .eof }
        let s = String(cString: p)
        free(p)
        return .line(s)
    }

    /// Adds an entry to the history and appends it to the history file at once (a crash keeps it).
    func addHistory(_ entry: String) {
        add_history(entry)
        _ = append_history(1, historyPath)
    }
}
