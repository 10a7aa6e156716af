// Tab completion for the REPL: builtins, variables, members after '.', named arguments inside a call, values inside strings, meta commands.

public enum Completer {
    /// The REPL's meta commands.
    public static let commands = [":help", ":vars", ":plugins", ":time", ":load", ":quit"]

    /// Characters that end a word for completion (everything but names, '.' and ':').
    public static let wordBreaks = " \t\n\"'`@$><=;|&{}(),[]+-*/!%^~#"

    /// Replacements for `word`, the text just before the cursor; `before` is the whole entry up to the cursor
    /// (earlier lines of a multi-line entry included). nil asks for file-name completion.
    public static func complete(_ interp: Interpreter, before: String, word: String) -> [String]? {
        let line = before.split(separator: "\n", omittingEmptySubsequences: false).last.map(String.init) ?? before
        let trimmed = line.drop { $0 == " " }
        if trimmed.hasPrefix(":") {
            if !trimmed.contains(" ") { return commands.filter { $0.hasPrefix(word) } }
            let cmd = trimmed.prefix { $0 != " " }
            if cmd == ":load" { return nil }
            if cmd == ":help" { return (interp.table.names + commands.map { String($0.dropFirst()) }).filter { $0.hasPrefix(word) }.sorted() }
            if cmd == ":time" { return names(interp, word) }
            return []
        }
        if insideString(before) { return stringValues(interp, before: before).filter { $0.hasPrefix(word) }.sorted() }
        if let dot = word.lastIndex(of: ".") {
            let base = String(word[..<dot]), partial = String(word[word.index(after: dot)...])
            guard let v = try? pathValue(interp, base) else { return [] }
            return v.memberNames.filter { $0.hasPrefix(partial) }.map { base + "." + $0 }
        }
        var out: [String] = []
        if let (fn, args) = openCall(before), let b = interp.table.lookup(fn) {
            let prev = before.dropLast(word.count).last { $0 != " " && $0 != "\t" && $0 != "\n" }
            if prev == "(" || prev == "," {
                let given = Set(namedArguments(args))
                out += b.params.map(\.name).filter { !given.contains($0) && $0.hasPrefix(word) }.map { $0 + ":" }
            }
        }
        return out + names(interp, word)
    }

    static func names(_ interp: Interpreter, _ word: String) -> [String] {
        var seen = Set<String>()
        return (interp.variableOrder.sorted() + interp.table.names.sorted() + ["true", "false", "none"])
            .filter { $0.hasPrefix(word) && seen.insert($0).inserted }
    }

    /// A dotted path of names (`m`, `data.tasks`) evaluated without calling anything.
    static func pathValue(_ interp: Interpreter, _ path: String) throws -> Value? {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, !first.isEmpty, var v = interp.variables[first] else { return nil }
        for p in parts.dropFirst() {
            guard let next = try v.member(p) else { return nil }
            v = next
        }
        return v
    }

    /// Whether the cursor is inside an open string literal.
    static func insideString(_ s: String) -> Bool {
        var quote: Character? = nil, escaped = false
        for ch in s {
            if ch == "\n" { quote = nil; continue }
            if let q = quote {
                if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == q { quote = nil }
            } else if ch == "\"" || ch == "'" { quote = ch }
            else if ch == "#" { quote = "\n" }   // a comment runs to the end of the line
        }
        return quote == "\"" || quote == "'"
    }

    /// The innermost call still open at the end of `s`: its builtin name and the argument text so far.
    static func openCall(_ s: String) -> (String, String)? {
        let chars = Array(s)
        var stack: [Int] = []
        var quote: Character? = nil
        for (i, ch) in chars.enumerated() {
            if let q = quote { if ch == q || ch == "\n" { quote = nil }; continue }
            switch ch {
            case "\"", "'": quote = ch
            case "(", "[": stack.append(i)
            case ")", "]": _ = stack.popLast()
            default: break
            }
        }
        guard let open = stack.last, chars[open] == "(" else { return nil }
        var j = open - 1
        while j >= 0 && chars[j] == " " { j -= 1 }
        var name = ""
        while j >= 0 && (chars[j].isLetter || chars[j].isNumber || chars[j] == "_") { name = String(chars[j]) + name; j -= 1 }
        guard !name.isEmpty else { return nil }
        return (name, String(chars[(open + 1)...]))
    }

    /// `name:` labels already written at the top level of an argument list.
    static func namedArguments(_ args: String) -> [String] {
        var out: [String] = [], depth = 0, word = ""
        var quote: Character? = nil
        for ch in args {
            if let q = quote { if ch == q { quote = nil }; continue }
            switch ch {
            case "\"", "'": quote = ch; word = ""
            case "(", "[": depth += 1; word = ""
            case ")", "]": depth -= 1; word = ""
            case ":": if depth == 0 && !word.isEmpty { out.append(word) }; word = ""
            default:
                if ch.isLetter || ch.isNumber || ch == "_" { word.append(ch) } else if ch != " " { word = "" }
            }
        }
        return out
    }

    /// Inside a string: task, dataset, gating and aux-loss names, the tasks of models, and choices of the parameter.
    static func stringValues(_ interp: Interpreter, before: String) -> [String] {
        let reg = interp.table.registry
        var out = reg.taskNames + reg.gatingNames + reg.auxLossNames + layoutNames
        for v in interp.variables.values { if case .object(let m as ModelValue) = v { out += m.model.tasks + moeLayerNames(m.model) } }
        if let (fn, _) = openCall(before), let b = interp.table.lookup(fn) {
            for p in b.params { if case .choice(let c) = p.type { out += c } }
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }
}
