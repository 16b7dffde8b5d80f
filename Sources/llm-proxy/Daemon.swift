import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `start --daemon` for hosts without systemd: the gateway runs as a child in a session of
/// its own (no terminal, stdin from /dev/null, output to `--log-file`), and the command
/// returns once that child has written its pid file — or reports why it did not. A re-exec
/// rather than `fork()`: by the time a Swift command runs, the runtime has threads, and a
/// forked copy of a threaded process may deadlock on any lock another thread held.
enum Daemon {
    /// How long the command waits for the child's pid file (a first start may create its
    /// database and certificates).
    static let startTimeout: Duration = .seconds(60)
    /// glibc's `POSIX_SPAWN_SETSID` (2.26 and later), behind `_GNU_SOURCE` in `<spawn.h>` and
    /// so not imported: the child starts a session of its own, away from the terminal.
    static let spawnSetSID: Int16 = 0x80

    static func spawn(arguments: [String], pidFile: String, logFile: String?) throws {
        if let running = PIDFile.runningProcess(at: pidFile) {
            throw ValidationError("the gateway is already running (pid \(running), \(pidFile))")
        }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        closeInheritedDescriptors()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o640)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Self.spawnSetSID)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw ValidationError("cannot start the gateway: \(String(cString: strerror(spawned)))") }

        let deadline = ContinuousClock.now + startTimeout
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            if waitpid(child, &status, WNOHANG) == child {
                let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                throw ValidationError("the gateway stopped at start (exit \(code)); \(logFile.map { "see \($0)" } ?? "run it without --daemon to see why")")
            }
            if PIDFile.read(pidFile) == child {
                print("llm-proxy started (pid \(child), \(pidFile))")
                return
            }
            usleep(50_000)
        }
        kill(child, SIGTERM)
        throw ValidationError("the gateway did not start within \(startTimeout); it was stopped")
    }
}

extension Daemon {
    /// Marks every descriptor above standard error close-on-exec, so the daemon holds none of
    /// what this command inherited: a pipe its caller reads to the end (a script's `$(...)`,
    /// a supervisor) must see that end when this command exits, not when the daemon does.
    static func closeInheritedDescriptors() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for name in names {
            guard let descriptor = Int32(name), descriptor > 2 else { continue }
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
        }
    }
}

/// The running gateway's pid file: written once the configuration is valid, removed when
/// the gateway stops; a file naming a live process means the gateway runs already.
enum PIDFile {
    static func read(_ path: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else { return nil }
        return pid
    }

    /// The live process a pid file names (not this one), if any.
    static func runningProcess(at path: String) -> pid_t? {
        guard let pid = read(path), pid != getpid(), kill(pid, 0) == 0 || errno == EPERM else { return nil }
        return pid
    }

    static func write(_ path: String) throws {
        if let running = runningProcess(at: path) { throw ValidationError("the gateway is already running (pid \(running), \(path))") }
        do {
            try "\(getpid())\n".write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw ValidationError("cannot write the pid file \(path): \(error.localizedDescription)")
        }
    }

    /// Removes the file if it still names this process.
    static func remove(_ path: String) {
        if read(path) == getpid() { unlink(path) }
    }
}
