// msq convert a.msq a.ipynb (and back): cells, markdown, titles and the msq kernelspec; nothing is executed.
import Foundation
import SquadScript

enum ConvertCommand {
    static let usage = "usage: msq convert notebook.msq notebook.ipynb   (or notebook.ipynb notebook.msq)"

    static func run(_ args: [String]) -> Int32 {
        if args.first == "-h" || args.first == "--help" { print(usage); return 0 }
        guard args.count == 2 else { fputs("msq convert: two files are needed\n\(usage)\n", stderr); return 2 }
        let (src, dst) = (args[0], args[1])
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let srcURL = URL(fileURLWithPath: src, relativeTo: cwd).standardizedFileURL
        let dstURL = URL(fileURLWithPath: dst, relativeTo: cwd).standardizedFileURL
        let out: Data
        do {
            switch (srcURL.pathExtension.lowercased(), dstURL.pathExtension.lowercased()) {
            case ("msq", "ipynb"): out = try ipynb(fromMSQ: try Notebook.readText(srcURL, name: src), source: srcURL.lastPathComponent)
            case ("ipynb", "msq"):
                guard let data = FileManager.default.contents(atPath: srcURL.path) else {
                    throw KernelError("cannot read \(src): " + (FileManager.default.fileExists(atPath: srcURL.path) ? "not a readable file" : "no such file"))
                }
                out = Data(try msq(fromIPYNB: data, name: src).utf8)
            default:
                throw KernelError("convert goes from .msq to .ipynb or from .ipynb to .msq (got \(src) → \(dst))")
            }
            try FileManager.default.createDirectory(at: dstURL.deletingLastPathComponent(), withIntermediateDirectories: true)
            try out.write(to: dstURL, options: .atomic)
        } catch let e as ScriptError {
            fputs("msq convert: \(e.message)\n", stderr); return 1
        } catch {
            fputs("msq convert: \(error)\n", stderr); return 1
        }
        print("\(src) → \(dst)")
        return 0
    }

    /// nbformat 4.5 with the msq kernelspec; each cell keeps its `# %%` title in metadata.title.
    static func ipynb(fromMSQ text: String, source: String) throws -> Data {
        var cells: [[String: Any]] = []
        for (i, c) in Notebook.cells(text).enumerated() {
            var meta: [String: Any] = [:]
            if !c.title.isEmpty { meta["title"] = c.title }
            var cell: [String: Any] = ["cell_type": c.kind == .markdown ? "markdown" : "code", "id": "cell-\(i + 1)",
                                       "metadata": meta, "source": lines(c.source)]
            if c.kind == .code { cell["outputs"] = [Any](); cell["execution_count"] = NSNull() }
            cells.append(cell)
        }
        let nb: [String: Any] = [
            "nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": ["kernelspec": ["name": "msq", "display_name": KernelSpec.displayName, "language": "msq"],
                         "language_info": ["name": "msq", "file_extension": ".msq", "mimetype": "text/x-msq"],
                         "msq": ["source": source]] as [String: Any],
        ]
        return try JSONSerialization.data(withJSONObject: nb, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    /// The percent format: `# %% title` before code, `# %% [markdown]` with `# `-prefixed lines; outputs are dropped.
    static func msq(fromIPYNB data: Data, name: String) throws -> String {
        guard let nb = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw KernelError("\(name) is not a JSON notebook") }
        guard let cells = nb["cells"] as? [[String: Any]] else { throw KernelError("\(name) has no \"cells\" list (nbformat 4 is needed)") }
        var out: [String] = []
        for (i, c) in cells.enumerated() {
            let source: String
            if let l = c["source"] as? [String] { source = l.joined() } else if let s = c["source"] as? String { source = s } else {
                throw KernelError("\(name): cell \(i + 1) has no source text")
            }
            let title = ((c["metadata"] as? [String: Any])?["title"] as? String).map { " " + $0 } ?? ""
            let body = normalizingLineEnds(source).trimmingCharacters(in: .newlines)
            switch c["cell_type"] as? String {
            case "markdown":
                out.append("# %% [markdown]" + title)
                out += body.components(separatedBy: "\n").map { $0.isEmpty ? "#" : "# " + $0 }
            case "code":
                out.append("# %%" + title)
                if !body.isEmpty { out.append(body) }
            default:   // raw cells are kept as comments
                out.append("# %% [markdown]" + title)
                out += body.components(separatedBy: "\n").map { $0.isEmpty ? "#" : "# " + $0 }
            }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    /// Lines of `text` each keeping its newline (nbformat's multiline strings).
    static func lines(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        var parts = text.components(separatedBy: "\n").map { $0 + "\n" }
        parts[parts.count - 1].removeLast()
        return parts
    }
}
