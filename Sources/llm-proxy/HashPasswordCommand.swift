import Admin
import ArgumentParser
import Foundation

/// `llm-proxy hash-password`: the bcrypt hash of an admin password, for
/// `admin.password_hash` / `LLMPROXY_ADMIN_PASSWORD_HASH`. The password is read from
/// standard input (one line), never from the command line, where `ps` and shell history
/// would show it.
struct HashPasswordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password",
        abstract: "Print the bcrypt hash of an admin password read from standard input."
    )

    func run() async throws {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("no password on standard input: printf '%s' 'your password' | llm-proxy hash-password")
        }
        guard line.count >= 8 else { throw ValidationError("the password must be at least 8 characters") }
        print(await AdminCredentials.hash(line))
    }
}
