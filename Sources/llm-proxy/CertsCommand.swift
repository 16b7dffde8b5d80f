import ArgumentParser
import Certificates
import Foundation
import ProxyConfig

/// `llm-proxy certs …`: the TLS certificate of the configured mode, without starting the
/// gateway. A running gateway serves a renewed certificate within seconds.
struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Show, renew and export the gateway's TLS certificates.",
        subcommands: [Status.self, Renew.self, ExportCA.self, InstallCA.self]
    )

    struct Options: ParsableArguments {
        @Option(name: [.short, .customLong("config")], help: "Configuration file (YAML). Default: $LLMPROXY_CONFIG, else built-in defaults.")
        var config: String?

        @Option(help: "Serving mode (overrides tls.mode): dev-selfsigned, https, https-acme, packaged-ca.")
        var mode: ServeMode?

        @Option(name: .customLong("domain"), help: "A name the certificate is for (repeatable; tls.domains).")
        var domains: [String] = []

        func load() throws -> GatewayConfig {
            let mode = self.mode, domains = self.domains
            let loader = ConfigLoader(path: config, environment: ProcessInfo.processInfo.environment) { config in
                if let mode { config.tls.mode = mode.tlsMode }
                if !domains.isEmpty { config.tls.domains = domains }
            }
            do {
                return try loader.load()
            } catch let error as ConfigError {
                throw ValidationError("configuration is not valid:\n\(error.description)")
            }
        }

        func source(_ config: GatewayConfig) -> CertificateSource {
            CertificateSource(config: config.tls, directory: CertificateDirectory(root: config.tlsDirectory))
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The certificate in use: names, issuer, validity, fingerprint, next renewal.")

        @OptionGroup var options: Options

        func run() throws {
            let config = try options.load()
            var source = options.source(config)
            print("mode         \(config.tls.mode.rawValue)")
            let bundle: CertificateBundle?
            switch config.tls.mode {
            case .localHTTP:
                print("plain HTTP: no certificate")
                return
            case .https:
                print("files        \(config.tls.certFile ?? "?"), \(config.tls.keyFile ?? "?")")
                bundle = try Self.orFail { try source.initial() }
            case .devSelfSigned, .packagedCA, .httpsACME:
                print("directory    \(config.tlsDirectory)")
                bundle = try Self.orFail { try source.stored() }
            }
            guard let bundle else {
                print("no certificate yet: the gateway makes one at its first start (or run llm-proxy certs renew)")
                return
            }
            print("names        \(bundle.names.joined(separator: ", "))")
            print("subject      \(bundle.leaf.subject)")
            print("issuer       \(bundle.leaf.issuer)")
            print("valid        \(CertificateBundle.text(bundle.notValidBefore)) to \(CertificateBundle.text(bundle.notValidAfter))")
            print("sha256       \(bundle.fingerprint)")
            if config.tls.mode != .https { print("renewal      \(CertificateBundle.text(bundle.renewalDate)) (when a third of the lifetime is left)") }
            if bundle.notValidAfter < Date() { print("EXPIRED") }
        }

        static func orFail<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch { throw ValidationError("\(error)") }
        }
    }

    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a new certificate now (dev-selfsigned, packaged-ca); in https-acme the running gateway orders one.")

        @OptionGroup var options: Options

        func run() throws {
            let config = try options.load()
            var source = options.source(config)
            guard let bundle = try Status.orFail({ try source.renewNow() }) else {
                print("renewal requested: the running gateway orders a new certificate within seconds (see its log)")
                return
            }
            print("renewed: valid to \(CertificateBundle.text(bundle.notValidAfter)), sha256 \(bundle.fingerprint)")
        }
    }

    struct ExportCA: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-ca", abstract: "Write the private CA's root certificate (made now if there is none yet).")

        @OptionGroup var options: Options

        @Option(help: "File to write (default: standard output).")
        var out: String?

        func run() throws {
            let config = try options.load()
            let root = try Status.orFail { try options.source(config).packagedRoot() }
            if let out {
                do {
                    try root.chainPEM.write(toFile: out, atomically: true, encoding: .utf8)
                } catch {
                    throw ValidationError("cannot write \(out): \(error.localizedDescription)")
                }
                FileHandle.standardError.write(Data("wrote the root CA (sha256 \(root.fingerprint)) to \(out)\n".utf8))
            } else {
                print(root.chainPEM, terminator: "")
            }
        }
    }

    struct InstallCA: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install-ca",
            abstract: "Install the private CA's root into this system's trust store (Debian, RHEL), or print the steps (macOS, Windows).")

        @OptionGroup var options: Options

        @Flag(help: "Print the steps instead of running them.")
        var print = false

        func run() throws {
            let config = try options.load()
            let root = try Status.orFail { try options.source(config).packagedRoot() }
            let rootFile = config.tlsDirectory + "/ca/root.pem"
            let plan = TrustStore.plan(rootFile: rootFile)
            if self.print || plan.commands.isEmpty || getuid() != 0 {
                Swift.print(plan.steps)
                if !self.print, getuid() != 0, !plan.commands.isEmpty { Swift.print("(run as root to have llm-proxy do it)") }
                return
            }
            for command in plan.commands {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: command[0])
                process.arguments = Array(command.dropFirst())
                try process.run()
                process.waitUntilExit()
                guard process.terminationStatus == 0 else { throw ValidationError("\(command.joined(separator: " ")) failed") }
            }
            Swift.print("installed the root CA (sha256 \(root.fingerprint)) into the system trust store")
        }
    }
}

/// How this system trusts a new root: Debian's and RHEL's tools, else the steps for macOS and
/// Windows.
enum TrustStore {
    struct Plan {
        var commands: [[String]]
        var steps: String
    }

    static func plan(rootFile: String, exists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }) -> Plan {
        if exists("/usr/sbin/update-ca-certificates") {
            let target = "/usr/local/share/ca-certificates/llmproxy-root.crt"
            return Plan(
                commands: [["/bin/cp", rootFile, target], ["/usr/sbin/update-ca-certificates"]],
                steps: "cp \(rootFile) \(target)\nupdate-ca-certificates")
        }
        if exists("/usr/bin/update-ca-trust") {
            let target = "/etc/pki/ca-trust/source/anchors/llmproxy-root.pem"
            return Plan(commands: [["/bin/cp", rootFile, target], ["/usr/bin/update-ca-trust", "extract"]], steps: "cp \(rootFile) \(target)\nupdate-ca-trust extract")
        }
        return Plan(
            commands: [],
            steps: """
                macOS:   sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain \(rootFile)
                Windows: certutil -addstore -f Root \(rootFile)   (in an administrator prompt)
                Firefox keeps its own store: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import.
                """)
    }
}
