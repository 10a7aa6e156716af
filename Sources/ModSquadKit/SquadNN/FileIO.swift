// File reading and atomic replacement for the tensor formats: regular files only, saves through locked temporaries whose stale leftovers the next save removes.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SquadTensor

/// Reading and atomic replacement of whole files (safetensors, npy, checkpoints).
///
/// A save writes `.NAME.tmp-UUID` beside `NAME`, holding an exclusive `flock` on it
/// until it is renamed into place. A process killed mid-save leaves that file behind,
/// unlocked: the next save of the same target removes every such unlocked temporary,
/// and reading refuses to open one.
public enum IOFile {
    public static func read(_ url: URL) throws -> Data {
        if let why = notRegularFile(url.path) { throw TensorError.io(path: url.path, message: "cannot read: \(why)") }
        if isSaveTemporary(url.lastPathComponent) {
            throw TensorError.io(path: url.path, message: "cannot read: this is the temporary file of an unfinished save, not a checkpoint; load the file it was being saved as")
        }
        do {
            return try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw TensorError.io(path: url.path, message: "cannot read: \(reason(error))")
        }
    }

    /// Why `path` cannot be read as a file ("no such file", "is a directory", "is not a regular file (a FIFO)"), or nil when it can be tried.
    /// Checked before opening: opening a FIFO would block until a writer comes.
    public static func notRegularFile(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return errno == ENOENT ? "no such file" : errnoText(errno) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "is a directory, not a file"
        case S_IFIFO: return "is not a regular file (a FIFO)"
        case S_IFSOCK: return "is not a regular file (a socket)"
        case S_IFCHR, S_IFBLK: return "is not a regular file (a device)"
        default: return "is not a regular file"
        }
    }

    /// Whether `name` is a save's temporary file: `.NAME.tmp-UUID`.
    public static func isSaveTemporary(_ name: String) -> Bool {
        guard name.hasPrefix("."), let r = name.range(of: ".tmp-", options: .backwards), r.lowerBound > name.index(after: name.startIndex) else { return false }
        return UUID(uuidString: String(name[r.upperBound...])) != nil
    }

    /// The system's reason for a Foundation error (the POSIX text when there is one).
    public static func reason(_ e: Error) -> String {
        let ns = e as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain { return errnoText(Int32(u.code)) }
        if ns.domain == NSPOSIXErrorDomain { return errnoText(Int32(ns.code)) }
        return ns.localizedDescription
    }

    static func shapeText(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

    static func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Removes the temporaries of earlier saves of `url` that no process holds (their writer died);
    /// returns how many it removed. A temporary being written holds its lock and is left alone.
    @discardableResult
    public static func removeStaleTemporaries(of url: URL) -> Int {
        let folder = url.deletingLastPathComponent().path
        let prefix = ".\(url.lastPathComponent).tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return 0 }
        var removed = 0
        for name in names where name.hasPrefix(prefix) && isSaveTemporary(name) {
            let path = (folder as NSString).appendingPathComponent(name)
            let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            if flock(fd, LOCK_EX | LOCK_NB) == 0, unlink(path) == 0 { removed += 1 }
            _ = close(fd)
        }
        return removed
    }

    /// Writes `data` to a locked temporary file next to `url`, fsyncs it, renames it over
    /// `url`, then fsyncs the folder. Stale temporaries of `url` left by killed saves are
    /// removed first. On any failure the temporary file is removed and `url` is left as it was.
    public static func replaceAtomically(_ url: URL, with data: Data) throws {
        let path = url.path
        let folder = url.deletingLastPathComponent().path
        removeStaleTemporaries(of: url)
        let tmp = (folder as NSString).appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)")
        func fail(_ what: String, _ code: Int32) -> TensorError {
            .io(path: path, message: "\(what): \(errnoText(code))")
        }
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("cannot create a temporary file in \(folder)", errno) }
        // Held until after the rename: a concurrent save's cleanup leaves this file alone.
        _ = flock(fd, LOCK_EX)
        var done = false
        defer {
            if !done { _ = unlink(tmp) }
            _ = close(fd)
        }
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let n = write(fd, base + offset, Swift.min(raw.count - offset, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("cannot write", errno)
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw fail("cannot sync", errno) }
        guard rename(tmp, path) == 0 else { throw fail("cannot rename the temporary file into place", errno) }
        done = true
        let dfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); _ = close(dfd) }
    }
}
