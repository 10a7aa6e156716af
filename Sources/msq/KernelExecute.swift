// The kernel's shell requests: execute (statements, `:` commands, results, errors), complete, inspect, is_complete, history.
import Foundation
import SquadScript

extension Kernel {
    func execute(_ msg: KernelMessage) -> [String: Any] {
        let code = msg.content["code"] as? String ?? ""
        let silent = msg.content["silent"] as? Bool ?? false
        let store = (msg.content["store_history"] as? Bool ?? true) && !silent
        if store { executionCount += 1 }
        let count = executionCount
        output.parent = msg.header
        output.text = ""
        output.progressID = nil
        if !silent { iopub.publish("execute_input", ["code": code, "execution_count": count], parent: msg.header) }
        ScriptInterrupt.clear()
        var failure: ScriptError?
        do { try runCell(code, count: count, parent: msg.header) }
        catch let e as ScriptError { failure = e }
        catch { failure = ScriptError(.runtime, describe(error)) }
        output.endProgress()
        if interpreter.output !== output { interpreter.output = output }
        if store { history.append((count, code, output.text)) }
        ScriptInterrupt.clear()
        if let e = failure {
            let err: [String: Any] = ["ename": e.kind.rawValue, "evalue": e.message, "traceback": e.rendered.components(separatedBy: "\n")]
            iopub.publish("error", err, parent: msg.header)
            return err.merging(["status": "error", "execution_count": count]) { a, _ in a }
        }
        var expressions: [String: Any] = [:]
        for (name, text) in msg.content["user_expressions"] as? [String: String] ?? [:] {
            do {
                let v = try interpreter.evaluate(try singleExpression(text, name: "<expression>"))
                expressions[name] = ["status": "ok", "data": ["text/plain": v.summary], "metadata": [String: Any]()]
            } catch let e as ScriptError {
                expressions[name] = ["status": "error", "ename": e.kind.rawValue, "evalue": e.message, "traceback": e.rendered.components(separatedBy: "\n")]
            } catch {}
        }
        return ["status": "ok", "execution_count": count, "payload": [Any](), "user_expressions": expressions]
    }

    func singleExpression(_ text: String, name: String) throws -> Expr {
        let p = try Parser.parse(SourceFile(name: name, text: text))
        guard p.statements.count == 1, case .expression(let e) = p.statements[0] else {
            throw ScriptError(.syntax, "a user expression must be one expression")
        }
        return e
    }

    /// Leading `:` lines are commands; the rest is msq code, its last expression the cell's result.
    /// An interrupt between statements stops the cell there.
    func runCell(_ code: String, count: Int, parent: [String: Any]) throws {
        let lines = normalizingLineEnds(code).components(separatedBy: "\n")
        var k = 0
        while k < lines.count {
            let t = lines[k].trimmingCharacters(in: .whitespaces)
            if t.hasPrefix(":") { try command(t, count: count, parent: parent) } else if !t.isEmpty && !t.hasPrefix("#") { break }
            k += 1
        }
        guard k < lines.count else { return }
        let file = SourceFile(name: "In[\(count)]", text: code)
        let program = try Parser.parse(file, text: lines[k...].joined(separator: "\n"), firstLine: k + 1)
        for (i, s) in program.statements.enumerated() {
            if ScriptInterrupt.take() { throw ScriptError(.interrupted, "the cell was stopped before line \(lineOf(s))") }
            if i == program.statements.count - 1, case .expression(let e) = s {
                result(try interpreter.evaluate(e), count: count, parent: parent)
            } else {
                try interpreter.execute(s)
            }
        }
    }

    func lineOf(_ s: Statement) -> Int {
        switch s { case .assign(_, _, let e), .expression(let e): return e.loc.line }
    }

    /// The cell's value: pictures as display_data, anything else as execute_result (tables with Markdown and HTML).
    func result(_ v: Value, count: Int, parent: [String: Any]) {
        func publish(_ data: [String: Any]) {
            if let t = data["text/plain"] as? String { output.text += t + "\n" }
            iopub.publish("execute_result", ["execution_count": count, "data": data, "metadata": [String: Any]()], parent: parent)
        }
        switch v {
        case .none: return
        case .object(let img as ImageValue): output.display(img)
        case .object(let t as TableValue): publish(tableBundle(t))
        case .list(let l) where !l.isEmpty && l.allSatisfy({ if case .object(let o) = $0 { return o is ImageValue }; return false }):
            for case .object(let img as ImageValue) in l { output.display(img) }
        case .list(let l) where !l.isEmpty && l.allSatisfy({ if case .object = $0 { return true }; return false }):
            publish(["text/plain": l.map(\.summary).joined(separator: "\n")])
        default: publish(["text/plain": v.summary])
        }
    }

    /// The REPL's `:` commands, writing into the cell's output.
    func command(_ line: String, count: Int, parent: [String: Any]) throws {
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        let name = parts[0], arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch name {
        case ":help", ":h", ":?":
            if arg.isEmpty { output.write(REPL.commandsHelp + "\n" + (try interpreter.helpText(nil)) + "\n") }
            else if let c = REPL.commands.first(where: { $0.0.split(separator: " ")[0] == ":" + arg || $0.0.split(separator: " ")[0] == arg }) {
                output.write("\(c.0) \(c.1)\n")
                if !arg.hasPrefix(":"), let b = interpreter.table.lookup(arg) { output.write(b.help + "\n") }
            } else { output.write(try interpreter.helpText(arg) + "\n") }
        case ":vars":
            if interpreter.variableOrder.isEmpty { output.write("no variables yet\n") }
            for n in interpreter.variableOrder { if let v = interpreter.variables[n] { output.write("\(n) = \(v.summary)\n") } }
        case ":plugins": output.write(interpreter.pluginsText() + "\n")
        case ":time":
            guard !arg.isEmpty else { throw ScriptError(.argument, ":time needs a statement in a notebook: :time train(m, data)") }
            let start = Date()
            try interpreter.run(SourceFile(name: "In[\(count)]", text: arg))
            output.write(String(format: "time: %.3f s\n", Date().timeIntervalSince(start)))
        case ":load":
            guard !arg.isEmpty else { throw ScriptError(.argument, ":load needs a file: :load notebook.msq") }
            let url = interpreter.resolve(arg)
            let text = try Notebook.readText(url, name: arg)
            let results = NotebookRunner(interpreter: interpreter).run(SourceFile(name: arg, text: text), echo: output)
            interpreter.output = output
            if let bad = results.first(where: { $0.error != nil }), let e = bad.error { throw e }
            let ran = results.filter(\.ran).count
            output.write(":load \(arg): \(ran) cell\(ran == 1 ? "" : "s") run\n")
        case ":quit", ":q", ":exit":
            output.write("the kernel stays up: use the notebook's Shut Down or Restart\n")
        default:
            let names = REPL.commands.map { String($0.0.split(separator: " ")[0]) }
            throw ScriptError(.name, "unknown command '\(name)'\(didYouMean(name, in: names))", hint: "commands: " + names.joined(separator: " "))
        }
    }

    // MARK: completion, inspection, history

    /// `code` up to `cursor` (in Unicode scalars, as protocol 5.2+ counts).
    func prefix(_ code: String, _ content: [String: Any]) -> (String, Int) {
        let scalars = Array(code.unicodeScalars)
        let cursor = min(max(0, content["cursor_pos"] as? Int ?? scalars.count), scalars.count)
        var s = String.UnicodeScalarView(); s.append(contentsOf: scalars[..<cursor])
        return (String(s), cursor)
    }

    func complete(_ content: [String: Any]) -> [String: Any] {
        let code = content["code"] as? String ?? ""
        let (before, cursor) = prefix(code, content)
        let breaks = Set(Completer.wordBreaks.unicodeScalars)
        let word = String(String.UnicodeScalarView(before.unicodeScalars.reversed().prefix { !breaks.contains($0) }.reversed()))
        let matches = Completer.complete(interpreter, before: before, word: word) ?? []
        return ["status": "ok", "matches": matches, "cursor_start": cursor - word.unicodeScalars.count, "cursor_end": cursor,
                "metadata": [String: Any]()]
    }

    /// The `help()` text of the name under the cursor (or of the call the cursor is in).
    func inspect(_ content: [String: Any]) -> [String: Any] {
        let code = content["code"] as? String ?? ""
        let (before, _) = prefix(code, content)
        let after = String(code.unicodeScalars.dropFirst(before.unicodeScalars.count))
        func isName(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }
        var name = String(before.reversed().prefix(while: isName).reversed()) + String(after.prefix(while: isName))
        if name.isEmpty {
            let head = before.reversed().drop { $0 == " " || $0 == "(" }
            name = String(head.prefix(while: isName).reversed())
        }
        guard !name.isEmpty, let text = try? interpreter.helpText(name) else {
            return ["status": "ok", "found": false, "data": [String: Any](), "metadata": [String: Any]()]
        }
        return ["status": "ok", "found": true, "data": ["text/plain": text], "metadata": [String: Any]()]
    }

    func isComplete(_ content: [String: Any]) -> [String: Any] {
        let code = content["code"] as? String ?? ""
        let t = code.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.hasPrefix(":") { return ["status": "complete"] }
        if Parser.isIncomplete(code) { return ["status": "incomplete", "indent": ""] }
        do { _ = try Parser.parse(SourceFile(name: "<input>", text: code)) } catch { return ["status": "invalid"] }
        return ["status": "complete"]
    }

    /// This session's cells: tail (n), range (start..<stop) or search (glob pattern, unique, n).
    func historyReply(_ content: [String: Any]) -> [String: Any] {
        let withOutput = content["output"] as? Bool ?? false
        var items = history
        switch content["hist_access_type"] as? String ?? "tail" {
        case "range":
            let start = content["start"] as? Int ?? 0, stop = content["stop"] as? Int ?? Int.max
            items = items.filter { $0.0 >= start && $0.0 < stop }
        case "search":
            let pattern = content["pattern"] as? String ?? "*"
            items = items.filter { fnmatch(pattern, $0.1, 0) == 0 }
            if content["unique"] as? Bool ?? false {
                var seen = Set<String>()
                items = items.reversed().filter { seen.insert($0.1).inserted }.reversed()
            }
            if let n = content["n"] as? Int { items = Array(items.suffix(n)) }
        default:
            if let n = content["n"] as? Int { items = Array(items.suffix(n)) }
        }
        let entries: [[Any]] = items.map { withOutput ? [1, $0.0, [$0.1, $0.2]] : [1, $0.0, $0.1] }
        return ["status": "ok", "history": entries]
    }
}
