// Notebook exports: a Markdown report (code, output, relative PNG links) and nbformat 4.5 .ipynb (stream, display_data, error outputs).
import Foundation

public enum NotebookExport {
    /// `target` relative to the folder `base` ("../plots/a.png"); absolute when they share nothing.
    public static func relativePath(_ target: String, from base: URL) -> String {
        let t = URL(fileURLWithPath: target).standardizedFileURL.pathComponents
        let b = base.standardizedFileURL.pathComponents
        var i = 0
        while i < t.count && i < b.count && t[i] == b[i] { i += 1 }
        if i <= 1 { return target }
        return (Array(repeating: "..", count: b.count - i) + t[i...]).joined(separator: "/")
    }

    static func fence(_ text: String, _ lang: String) -> String {
        var f = "```"
        while text.contains(f) { f += "`" }
        return "\(f)\(lang)\n\(text.hasSuffix("\n") ? String(text.dropLast()) : text)\n\(f)"
    }

    /// Markdown: a title, then per cell its title, code, output and pictures (linked relative to `reportURL`'s folder).
    public static func markdown(_ results: [CellResult], notebook: String, reportURL: URL, seconds: Double) -> String {
        let base = reportURL.deletingLastPathComponent()
        let ran = results.filter(\.ran).count
        let failed = results.filter { $0.error != nil }.count
        var out = ["# \(notebook)", "",
                   "_Run with msq: \(ran) code cell\(ran == 1 ? "" : "s") in \(formatDuration(seconds))"
                   + (failed > 0 ? ", \(failed) failed" : "") + "._", ""]
        for r in results {
            switch r.cell.kind {
            case .markdown:
                out += [r.cell.source, ""]
            case .code:
                let head = r.number.map { "[\($0)]" } ?? "[ ]"
                out += ["## \(head) \(r.cell.title.isEmpty ? "cell" : r.cell.title)", ""]
                if !r.cell.isEmpty { out += [fence(r.cell.source, "python"), ""] }
                if !r.ran && !r.cell.isEmpty { out += ["_not run_", ""] }
                for o in r.outputs {
                    switch o {
                    case .text(let t): out += [fence(t, "text"), ""]
                    case .image(let img): out += ["![\(img.title)](\(relativePath(img.path, from: base)))", ""]
                    case .table(let t): out += [t.markdown, ""]
                    }
                }
                if let e = r.error { out += ["**Error:**", "", fence(e.rendered, "text"), ""] }
                if r.ran { out += [String(format: "<sub>%.2f s</sub>", r.seconds), ""] }
            }
        }
        return out.joined(separator: "\n")
    }

    /// Lines of `text` each keeping its newline (nbformat's multiline strings).
    static func lines(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        var parts = text.components(separatedBy: "\n").map { $0 + "\n" }
        if text.hasSuffix("\n") { parts.removeLast() } else { parts[parts.count - 1].removeLast() }
        return parts
    }

    /// nbformat 4.5 JSON: markdown and code cells with stream, display_data (PNG in base64, tables as Markdown) and error outputs.
    public static func ipynb(_ results: [CellResult], notebook: String) throws -> Data {
        var cells: [[String: Any]] = []
        for (i, r) in results.enumerated() {
            let id = "cell-\(i + 1)"
            var meta: [String: Any] = [:]
            if !r.cell.title.isEmpty { meta["title"] = r.cell.title }
            if r.cell.kind == .markdown {
                cells.append(["cell_type": "markdown", "id": id, "metadata": meta, "source": lines(r.cell.source)])
                continue
            }
            var outputs: [[String: Any]] = []
            for o in r.outputs {
                switch o {
                case .text(let t):
                    outputs.append(["output_type": "stream", "name": "stdout", "text": lines(t)])
                case .image(let img):
                    var data: [String: Any] = ["text/plain": [img.summary]]
                    if let png = FileManager.default.contents(atPath: img.path) { data["image/png"] = png.base64EncodedString() }
                    var m: [String: Any] = [:]
                    if img.width > 0 { m["image/png"] = ["width": img.width, "height": img.height] }
                    outputs.append(["output_type": "display_data", "data": data, "metadata": m])
                case .table(let t):
                    outputs.append(["output_type": "display_data", "metadata": [String: Any](),
                                    "data": ["text/markdown": lines(t.markdown), "text/plain": lines(t.plain)]])
                }
            }
            if let e = r.error {
                outputs.append(["output_type": "error", "ename": e.kind.rawValue, "evalue": e.message,
                                "traceback": e.rendered.components(separatedBy: "\n")])
            }
            var cell: [String: Any] = ["cell_type": "code", "id": id, "metadata": meta, "source": lines(r.cell.source), "outputs": outputs]
            cell["execution_count"] = r.number.map { $0 as Any } ?? NSNull()
            cells.append(cell)
        }
        let nb: [String: Any] = [
            "nbformat": 4, "nbformat_minor": 5,
            "metadata": [
                "kernelspec": ["name": "msq", "display_name": "ModSquad (msq)", "language": "msq"],
                "language_info": ["name": "msq", "file_extension": ".msq", "mimetype": "text/x-msq"],
                "msq": ["source": notebook],
            ] as [String: Any],
            "cells": cells,
        ]
        return try JSONSerialization.data(withJSONObject: nb, options: [.prettyPrinted, .sortedKeys])
    }
}
