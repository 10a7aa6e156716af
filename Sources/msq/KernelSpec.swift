// msq kernel install/uninstall [--user | --prefix DIR] [--name NAME]: the Jupyter kernelspec `msq`, with a logo drawn by Cairo.
import Foundation
import CCairo

enum KernelSpec {
    static let displayName = "ModSquad (msq)"

    /// Jupyter's per-user data folder: $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter, else ~/.local/share/jupyter.
    static var userDataDir: String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["JUPYTER_DATA_DIR"], !d.isEmpty { return d }
        if let x = env["XDG_DATA_HOME"], !x.isEmpty { return (x as NSString).appendingPathComponent("jupyter") }
        let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".local/share/jupyter")
    }

    static func run(_ args: [String]) -> Int32 {
        let install = args.first == "install"
        var dataDir = userDataDir, name = "msq"
        var i = 1
        while i < args.count {
            switch args[i] {
            case "--user": dataDir = userDataDir
            case "--sys-prefix", "--system": dataDir = "/usr/local/share/jupyter"
            case "--prefix", "--name":
                guard i + 1 < args.count else { fputs("msq kernel: \(args[i]) needs a value\n\(KernelCommand.usage)\n", stderr); return 2 }
                if args[i] == "--prefix" {
                    dataDir = (URL(fileURLWithPath: args[i + 1]).standardizedFileURL.path as NSString).appendingPathComponent("share/jupyter")
                } else { name = args[i + 1] }
                i += 1
            case "-h", "--help": print(KernelCommand.usage); return 0
            default: fputs("msq kernel: unknown option '\(args[i])'\n\(KernelCommand.usage)\n", stderr); return 2
            }
            i += 1
        }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
            fputs("msq kernel: a kernel name holds letters, digits, '.', '_' and '-' only, got '\(name)'\n", stderr); return 2
        }
        let dir = ((dataDir as NSString).appendingPathComponent("kernels") as NSString).appendingPathComponent(name)
        if !install {
            guard FileManager.default.fileExists(atPath: dir) else { fputs("msq kernel: no kernelspec at \(dir)\n", stderr); return 1 }
            do { try FileManager.default.removeItem(atPath: dir) } catch {
                fputs("msq kernel: cannot remove \(dir): \(error.localizedDescription)\n", stderr); return 1
            }
            print("removed the kernelspec \(name) from \(dir)")
            return 0
        }
        do {
            try write(to: dir)
        } catch {
            fputs("msq kernel: cannot install into \(dir): \(error)\n", stderr); return 1
        }
        print("installed the kernelspec \(name) (\"\(displayName)\") in \(dir)")
        return 0
    }

    /// The running executable's absolute path (what the kernelspec starts).
    static var executablePath: String {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    static func write(to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let spec: [String: Any] = [
            "argv": [executablePath, "kernel", "-f", "{connection_file}"],
            "display_name": displayName,
            "language": "msq",
            "interrupt_mode": "message",
            "metadata": ["debugger": false],
        ]
        let data = try JSONSerialization.data(withJSONObject: spec, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try data.write(to: URL(fileURLWithPath: dir).appendingPathComponent("kernel.json"), options: .atomic)
        for size in [32, 64] { try drawLogo(size: size, to: (dir as NSString).appendingPathComponent("logo-\(size)x\(size).png")) }
    }

    /// A rounded square with a squad of four expert dots, two of them lit.
    static func drawLogo(size: Int, to path: String) throws {
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(size), Int32(size)) else { throw KernelError("cairo cannot make a surface") }
        defer { cairo_surface_destroy(surface) }
        guard let cr = cairo_create(surface) else { throw KernelError("cairo cannot draw") }
        defer { cairo_destroy(cr) }
        let s = Double(size), r = s * 0.18
        cairo_new_sub_path(cr)
        cairo_arc(cr, s - r, r, r, -Double.pi / 2, 0)
        cairo_arc(cr, s - r, s - r, r, 0, Double.pi / 2)
        cairo_arc(cr, r, s - r, r, Double.pi / 2, Double.pi)
        cairo_arc(cr, r, r, r, Double.pi, 3 * Double.pi / 2)
        cairo_close_path(cr)
        cairo_set_source_rgb(cr, 0.13, 0.19, 0.33)
        cairo_fill(cr)
        let lit: [(Double, Double, Double)] = [(0.98, 0.62, 0.18), (0.30, 0.75, 0.93), (0.45, 0.50, 0.60), (0.45, 0.50, 0.60)]
        for (k, c) in lit.enumerated() {
            let x = s * (k % 2 == 0 ? 0.32 : 0.68), y = s * (k < 2 ? 0.32 : 0.68)
            cairo_arc(cr, x, y, s * 0.13, 0, 2 * Double.pi)
            cairo_set_source_rgb(cr, c.0, c.1, c.2)
            cairo_fill(cr)
        }
        cairo_surface_flush(surface)
        let status = cairo_surface_write_to_png(surface, path)
        guard status == CAIRO_STATUS_SUCCESS else { throw KernelError("cannot write \(path): \(String(cString: cairo_status_to_string(status)))") }
    }
}
