// The msq REPL: reads entries (more lines while brackets are open), runs them, handles :commands; Ctrl-C stops training at a step boundary and no error ends the session.
import Foundation
import SquadScript

/// Ctrl-C sets the interrupt flag (no SA_RESTART, so a waiting poll returns EINTR). Work that cannot stop
/// at a step boundary (rendering a dataset, one long step) ignores it; a third Ctrl-C before anything took
/// the first two quits.
func installInterruptHandler() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in
        if ScriptInterrupt.request() >= 3 {
            let msg = "\nmsq: Ctrl-C three times: quitting\n"
            _ = msg.withCString { write(2, $0, strlen($0)) }
            _exit(130)
        }
    }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(SIGINT, &action, nil)
}

final class REPL {
    let interpreter: Interpreter
    let reader: LineReader
    let interactive: Bool
    var timing = false
    var entries = 0
    /// Piped sessions exit 1 when an entry failed (they still run every entry).
    var hadError = false

    init() {
        interactive = isatty(0) == 1
        let out = StandardOutput(terminal: isatty(1) == 1)
        interpreter = Interpreter(output: out)
        if interactive {
            let home = ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            reader = ReadlineReader(interpreter: interpreter, historyPath: (home as NSString).appendingPathComponent(".msq_history"))
        } else {
            reader = PlainReader()
        }
    }

    func run() -> Int32 {
        installInterruptHandler()
        if interactive {
            print("msq \(MSQCommand.version): the ModSquad language. :help lists builtins, :quit leaves; Tab completes.")
            if ScriptSettings.fast { print("(fast mode: MSQ_FAST is set, sizes are shrunk)") }
        }
        while true {
            ScriptInterrupt.clear()
            reader.pending = ""
            var entry: String
            switch reader.read(prompt: "msq> ") {
            case .eof: return !interactive && hadError ? 1 : 0
            case .interrupted: continue
            case .line(let l): entry = l
            }
            var abandoned = false, ended = false
            while !entry.hasPrefix(":") && Parser.isIncomplete(entry) {
                reader.pending = entry
                switch reader.read(prompt: "...> ") {
                case .line(let l): entry += "\n" + l
                case .interrupted: abandoned = true
                case .eof: ended = true   // run what there is: the unclosed bracket is reported
                }
                if abandoned || ended { break }
            }
            reader.pending = ""
            if abandoned { continue }
            let trimmed = entry.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if ![":quit", ":q", ":exit"].contains(trimmed) { reader.addHistory(historyForm(entry)) }
            if trimmed.hasPrefix(":") {
                let goOn = command(trimmed)
                fflush(stdout)
                if !goOn { return 0 }
            } else {
                execute(entry)
            }
            if ended { return !interactive && hadError ? 1 : 0 }
        }
    }

    /// Multi-line entries are stored on one line when that keeps their meaning (no comments).
    func historyForm(_ entry: String) -> String {
        guard entry.contains("\n"), !entry.contains("#") else { return entry }
        return entry.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    func execute(_ text: String) {
        entries += 1
        let file = SourceFile(name: "<in \(entries)>", text: text)
        let start = Date()
        do { try interpreter.run(file) }
        catch let e as ScriptError { report(e) }
        catch { report(ScriptError(.runtime, describe(error))) }
        interpreter.output.endProgress()
        if timing { print(String(format: "time: %.3f s", Date().timeIntervalSince(start))) }
        fflush(stdout)
    }

    func report(_ e: ScriptError) {
        hadError = true
        interpreter.output.endProgress()
        fflush(stdout)
        fputs(e.rendered + "\n", stderr)
        fflush(stderr)
    }

    /// A :command; false ends the session.
    func command(_ line: String) -> Bool {
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        let name = parts[0], arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch name {
        case ":quit", ":q", ":exit": return false
        case ":help", ":h", ":?":
            if arg.isEmpty {
                print(Self.commandsHelp)
                print((try? interpreter.helpText(nil)) ?? "")
            } else if let c = Self.commands.first(where: { $0.0.split(separator: " ")[0] == ":" + arg || $0.0.split(separator: " ")[0] == arg }) {
                print("\(c.0) \(c.1)")
                // a builtin of the same name (load) is shown too, unless the command was asked for as ":name"
                if !arg.hasPrefix(":"), let b = interpreter.table.lookup(arg) { print(b.help) }
            } else {
                do { print(try interpreter.helpText(arg)) } catch let e as ScriptError { report(e) } catch {}
            }
        case ":vars":
            if interpreter.variableOrder.isEmpty { print("no variables yet") }
            for n in interpreter.variableOrder { if let v = interpreter.variables[n] { print("\(n) = \(v.summary)") } }
        case ":plugins": print(interpreter.pluginsText())
        case ":time":
            if arg.isEmpty {
                timing.toggle()
                print("timing \(timing ? "on" : "off")")
            } else {
                let was = timing
                timing = true
                execute(arg)
                timing = was
            }
        case ":load":
            guard !arg.isEmpty else { report(ScriptError(.argument, ":load needs a file: :load notebook.msq")); break }
            load(arg)
        default:
            let names = Self.commands.map { String($0.0.split(separator: " ")[0]) }
            report(ScriptError(.name, "unknown command '\(name)'\(didYouMean(name, in: names))", hint: "commands: " + names.joined(separator: " ")))
        }
        return true
    }

    /// Runs a notebook's cells in this session; stops at the first error, keeping what the cells before it
    /// set and naming the variables it set or replaced.
    func load(_ path: String) {
        let url = interpreter.resolve(path)
        let text: String
        do { text = try Notebook.readText(url, name: path) } catch let e as ScriptError {
            report(ScriptError(e.kind, ":load: \(e.message)"))
            return
        } catch { report(ScriptError(.value, ":load: cannot read \(url.path): \(error)")); return }
        let file = SourceFile(name: path, text: text)
        let runner = NotebookRunner(interpreter: interpreter)
        let before = interpreter.variables
        let results = runner.run(file, echo: interpreter.output)
        let ran = results.filter(\.ran)
        if let bad = ran.first(where: { $0.error != nil }), let e = bad.error {
            report(e)
            print(":load \(path): stopped at cell \(bad.number ?? 0) of \(results.filter { $0.cell.kind == .code }.count)")
            let changed = interpreter.variableOrder.filter { n in
                guard let v = interpreter.variables[n] else { return false }
                return before[n].map { !Self.same($0, v) } ?? true
            }
            if changed.isEmpty {
                print("no variables were changed")
            } else {
                print("kept what ran before the error; variables set: "
                      + changed.map { before[$0] == nil ? "\($0) (new)" : "\($0) (replaced)" }.joined(separator: ", "))
            }
        } else {
            print(":load \(path): \(ran.count) cell\(ran.count == 1 ? "" : "s") run")
        }
    }

    /// Whether two values are the same (objects by identity).
    static func same(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.number(x), .number(y)): return x == y || (x.isNaN && y.isNaN)
        case let (.string(x), .string(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case let (.list(x), .list(y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case let (.object(x), .object(y)): return x === y
        case let (.function(x), .function(y)): return x.name == y.name
        default: return false
        }
    }

    static let commands: [(String, String)] = [
        (":help [name]", "every builtin, or one builtin's signature and doc"),
        (":vars", "the variables with their values"),
        (":plugins", "registered tasks, datasets, aux losses and gatings"),
        (":time [statement]", "time one statement, or toggle timing of every entry"),
        (":load file.msq", "run a notebook's cells in this session"),
        (":quit", "leave (Ctrl-D too)"),
    ]
    static var commandsHelp: String {
        "commands:\n" + commands.map { "  " + $0.0.padding(toLength: 20, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
            + "\nCtrl-C stops training at the next step; Tab completes names, members and named arguments."
    }
}
