// msq run nb.msq [--report out.md] [--ipynb out.ipynb] [--keep-going] [--fast]: runs a notebook cell by cell; exit 1 on a failing cell.
import Foundation
import SquadScript
import ModSquad

enum RunCommand {
    static let usage = "usage: msq run notebook.msq [--report out.md] [--ipynb out.ipynb] [--keep-going] [--fast]"

    static func run(_ args: [String]) -> Int32 {
        var path: String? = nil, report: String? = nil, ipynb: String? = nil, keepGoing = false
        var i = 0
        while i < args.count {
            let a = args[i]
            switch a {
            case "--report", "--ipynb":
                guard i + 1 < args.count else { fail("\(a) needs a file name\n\(usage)"); return 2 }
                if a == "--report" { report = args[i + 1] } else { ipynb = args[i + 1] }
                i += 1
            case "--keep-going", "-k": keepGoing = true
            case "--fast": ScriptSettings.fast = true
            case "-h", "--help": print(usage); return 0
            default:
                if a.hasPrefix("-") { fail("unknown option \(a)\n\(usage)"); return 2 }
                guard path == nil else { fail("one notebook at a time (got \(path!) and \(a))\n\(usage)"); return 2 }
                path = a
            }
            i += 1
        }
        guard let nb = path else { fail(usage); return 2 }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let url = URL(fileURLWithPath: nb, relativeTo: cwd).standardizedFileURL
        let text: String
        do { text = try Notebook.readText(url, name: nb) } catch let e as ScriptError { fail("msq run: \(e.message)"); return 1 } catch { fail("msq run: cannot read \(nb): \(error)"); return 1 }

        // Under mpirun only rank 0 prints and writes the report; the others show only their errors.
        let root = Distributed.isRoot
        let echo: ScriptOutput = root ? StandardOutput(terminal: false) : SilentOutput()
        let interp = Interpreter(output: echo)
        let runner = NotebookRunner(interpreter: interp)
        let file = SourceFile(name: nb, text: text)
        let start = Date()
        var failed = 0
        let results = runner.run(file, keepGoing: keepGoing, echo: echo, willRun: { cell, n in
            if root { print("── [\(n)] " + (cell.title.isEmpty ? "cell at line \(cell.firstLine)" : cell.title)) }
            fflush(stdout)
        }, didRun: { r in
            if let e = r.error {
                failed += 1
                // Ranks could go separate ways after an error, so a parallel run ends at its first one.
                if Distributed.isParallel { Parallel.failJob(e.rendered) }
                fflush(stdout)
                fputs(e.rendered + "\n", stderr)
                fflush(stderr)
            }
        })
        let seconds = Date().timeIntervalSince(start)
        let name = url.lastPathComponent
        var status: Int32 = failed > 0 ? 1 : 0
        if !root { return status }
        if let r = report {
            let out = URL(fileURLWithPath: r, relativeTo: cwd).standardizedFileURL
            let md = NotebookExport.markdown(results, notebook: name, reportURL: out, seconds: seconds)
            if !write(Data(md.utf8), to: out) { status = 1 } else { print("report: \(r)") }
        }
        if let j = ipynb {
            let out = URL(fileURLWithPath: j, relativeTo: cwd).standardizedFileURL
            do {
                if !write(try NotebookExport.ipynb(results, notebook: name), to: out) { status = 1 } else { print("notebook: \(j)") }
            } catch { fail("msq run: cannot encode \(j): \(error)"); status = 1 }
        }
        let ran = results.filter(\.ran).count
        print("\(name): \(ran) cell\(ran == 1 ? "" : "s") run in \(String(format: "%.1f", seconds)) s" + (failed > 0 ? ", \(failed) failed" : ""))
        return status
    }

    static func write(_ data: Data, to url: URL) -> Bool {
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url, options: .atomic)
            return true
        } catch {
            fail("msq run: cannot write \(url.path): \(error.localizedDescription)")
            return false
        }
    }

    static func fail(_ message: String) {
        fflush(stdout)
        fputs(message + "\n", stderr)
    }
}
