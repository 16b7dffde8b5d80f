import Yams

extension YAMLReader {
    /// A mapping whose keys are the user's (model patterns, owner names), in file order.
    mutating func entries(_ node: Node, at path: String) -> [(String, Node)] {
        guard let mapping = node.mapping else {
            problem(path, "must be a mapping of names to settings (got \(describe(node)))")
            return []
        }
        var result: [(String, Node)] = []
        for (key, value) in mapping {
            guard let name = key.string, !name.isEmpty else {
                problem(path, "has a key that is not a non-empty string (\(describe(key)))")
                continue
            }
            result.append((name, value))
        }
        return result
    }
}

extension RateRule {
    static func read(_ node: Node, at path: String, with reader: inout YAMLReader) -> RateRule {
        let map = reader.mapping(node, at: path, known: ["requests_per_minute", "burst", "tokens_per_minute", "concurrency"])
        return RateRule(
            requestsPerMinute: reader.int(map["requests_per_minute"], at: "\(path).requests_per_minute"),
            burst: reader.int(map["burst"], at: "\(path).burst"),
            tokensPerMinute: reader.int(map["tokens_per_minute"], at: "\(path).tokens_per_minute"),
            concurrency: reader.int(map["concurrency"], at: "\(path).concurrency"))
    }
}

extension LimitsConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: ["ip", "key", "key_model", "models", "providers", "across_instances", "default_output_tokens"])
        if let node = map["ip"] { ip = RateRule.read(node, at: "\(path).ip", with: &reader) }
        if let node = map["key"] { key = RateRule.read(node, at: "\(path).key", with: &reader) }
        if let node = map["key_model"] { keyModel = RateRule.read(node, at: "\(path).key_model", with: &reader) }
        if let node = map["models"] {
            models = reader.entries(node, at: "\(path).models").map { name, value in
                ModelRateRule(pattern: name, rule: RateRule.read(value, at: "\(path).models.\(name)", with: &reader))
            }
        }
        if let node = map["providers"] {
            for (name, value) in reader.entries(node, at: "\(path).providers") {
                providers[name] = RateRule.read(value, at: "\(path).providers.\(name)", with: &reader)
            }
        }
        if let text = reader.string(map["across_instances"], at: "\(path).across_instances") {
            if let mode = AcrossInstances(rawValue: text) {
                acrossInstances = mode
            } else {
                reader.problem(
                    "\(path).across_instances",
                    "must be split (instances share each limit) or each (every instance enforces the whole limit) (got \"\(text)\")")
            }
        }
        defaultOutputTokens = reader.int(map["default_output_tokens"], at: "\(path).default_output_tokens") ?? defaultOutputTokens
    }
}

extension BudgetConfig {
    static func read(_ node: Node, at path: String, with reader: inout YAMLReader) -> BudgetConfig {
        let map = reader.mapping(node, at: path, known: ["tokens", "cost_usd", "period"])
        var budget = BudgetConfig()
        budget.tokens = reader.int(map["tokens"], at: "\(path).tokens").map(Int64.init)
        budget.costUSD = reader.double(map["cost_usd"], at: "\(path).cost_usd")
        budget.period = reader.string(map["period"], at: "\(path).period") ?? budget.period
        return budget
    }
}

extension BudgetsConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: ["owners", "stream_cutoff"])
        streamCutoff = reader.double(map["stream_cutoff"], at: "\(path).stream_cutoff") ?? streamCutoff
        if let node = map["owners"] {
            for (name, value) in reader.entries(node, at: "\(path).owners") {
                owners[name] = BudgetConfig.read(value, at: "\(path).owners.\(name)", with: &reader)
            }
        }
    }
}

extension PricingConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: ["builtin", "models"])
        builtIn = reader.bool(map["builtin"], at: "\(path).builtin") ?? builtIn
        if let node = map["models"] {
            models = reader.entries(node, at: "\(path).models").compactMap { name, value in
                let entryPath = "\(path).models.\(name)"
                let price = reader.mapping(value, at: entryPath, known: ["input", "output", "cached_input", "reasoning"])
                guard let input = reader.double(price["input"], at: "\(entryPath).input"),
                    let output = reader.double(price["output"], at: "\(entryPath).output")
                else {
                    if value.mapping != nil { reader.problem(entryPath, "needs input and output (US dollars per million tokens)") }
                    return nil
                }
                return Entry(
                    pattern: name, input: input, output: output, cachedInput: reader.double(price["cached_input"], at: "\(entryPath).cached_input"),
                    reasoning: reader.double(price["reasoning"], at: "\(entryPath).reasoning"))
            }
        }
    }
}

extension SecurityConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: ["allow_ips", "deny_ips", "cors_origins", "security_headers", "auto_block"])
        if let node = map["auto_block"] {
            let blockPath = "\(path).auto_block"
            let block = reader.mapping(node, at: blockPath, known: ["enabled", "threshold", "half_life", "block_seconds", "max_block_seconds", "exempt"])
            autoBlock.enabled = reader.bool(block["enabled"], at: "\(blockPath).enabled") ?? autoBlock.enabled
            autoBlock.threshold = reader.double(block["threshold"], at: "\(blockPath).threshold") ?? autoBlock.threshold
            autoBlock.halfLife = reader.double(block["half_life"], at: "\(blockPath).half_life") ?? autoBlock.halfLife
            autoBlock.blockSeconds = reader.double(block["block_seconds"], at: "\(blockPath).block_seconds") ?? autoBlock.blockSeconds
            autoBlock.maxBlockSeconds = reader.double(block["max_block_seconds"], at: "\(blockPath).max_block_seconds") ?? autoBlock.maxBlockSeconds
            autoBlock.exempt = reader.strings(block["exempt"], at: "\(blockPath).exempt") ?? autoBlock.exempt
        }
        allowIPs = reader.strings(map["allow_ips"], at: "\(path).allow_ips") ?? allowIPs
        denyIPs = reader.strings(map["deny_ips"], at: "\(path).deny_ips") ?? denyIPs
        corsOrigins = reader.strings(map["cors_origins"], at: "\(path).cors_origins") ?? corsOrigins
        securityHeaders = reader.bool(map["security_headers"], at: "\(path).security_headers") ?? securityHeaders
    }
}

extension SheddingConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: ["max_in_flight", "max_memory_mb", "max_cpu_percent", "retry_after"])
        maxInFlight = reader.int(map["max_in_flight"], at: "\(path).max_in_flight") ?? maxInFlight
        maxMemoryMB = reader.int(map["max_memory_mb"], at: "\(path).max_memory_mb") ?? maxMemoryMB
        maxCPUPercent = reader.double(map["max_cpu_percent"], at: "\(path).max_cpu_percent") ?? maxCPUPercent
        retryAfter = reader.int(map["retry_after"], at: "\(path).retry_after") ?? retryAfter
    }
}

extension GatewayConfig {
    /// The problems of the guard sections, each naming its key.
    func guardProblems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func fail(_ path: String, _ message: String) { problems.append(ConfigProblem(path: path, message: message)) }
        func check(_ path: String, _ value: Int?, _ range: ConfigRange) {
            if let value, !range.contains(value) { fail(path, range.message(got: "\(value)")) }
        }
        func check(_ path: String, _ rule: RateRule) {
            check("\(path).requests_per_minute", rule.requestsPerMinute, .requestsPerMinute)
            check("\(path).burst", rule.burst, .burst)
            check("\(path).tokens_per_minute", rule.tokensPerMinute, .tokensPerMinute)
            check("\(path).concurrency", rule.concurrency, .concurrency)
            if rule.burst != nil, rule.requestsPerMinute == nil { fail("\(path).burst", "is set without requests_per_minute: the burst belongs to a request rate") }
        }
        check("limits.ip", limits.ip)
        check("limits.key", limits.key)
        check("limits.key_model", limits.keyModel)
        for entry in limits.models { check("limits.models.\(entry.pattern)", entry.rule) }
        for (name, rule) in limits.providers.sorted(by: { $0.key < $1.key }) {
            check("limits.providers.\(name)", rule)
            if !providers.contains(where: { $0.name == name }) {
                let known = providers.map(\.name).joined(separator: ", ")
                fail("limits.providers.\(name)", "names no configured provider (configured: \(known.isEmpty ? "none" : known))")
            }
        }
        check("limits.default_output_tokens", limits.defaultOutputTokens, .outputTokens)
        for (owner, budget) in budgets.owners.sorted(by: { $0.key < $1.key }) {
            let path = "budgets.owners.\(owner)"
            if !AdminConfig.isValidUsername(owner) { fail(path, "is not a user name (3–50 characters of letters, digits, _ . -)") }
            if budget.tokens == nil, budget.costUSD == nil { fail(path, "needs tokens or cost_usd (or both)") }
            if let tokens = budget.tokens, !ConfigRange.tokenBudget.contains(Double(tokens)) { fail("\(path).tokens", ConfigRange.tokenBudget.message(got: "\(tokens)")) }
            if let cost = budget.costUSD, !ConfigRange.costBudget.contains(cost) { fail("\(path).cost_usd", ConfigRange.costBudget.message(got: "\(cost)")) }
            if !["day", "month", "total"].contains(budget.period) { fail("\(path).period", "must be day, month or total (got \"\(budget.period)\")") }
        }
        if !(0...10).contains(budgets.streamCutoff) {
            fail("budgets.stream_cutoff", "must be between 0 (never cut a stream) and 10 times the budget (got \(budgets.streamCutoff)); the default is 1")
        }
        for entry in pricing.models {
            let path = "pricing.models.\(entry.pattern)"
            for (name, value) in [("input", entry.input), ("output", entry.output), ("cached_input", entry.cachedInput), ("reasoning", entry.reasoning)] {
                if let value, !ConfigRange.price.contains(value) { fail("\(path).\(name)", ConfigRange.price.message(got: "\(value)")) }
            }
        }
        let block = security.autoBlock
        if !ConfigRange.blockThreshold.contains(block.threshold) { fail("security.auto_block.threshold", ConfigRange.blockThreshold.message(got: "\(block.threshold)")) }
        if !ConfigRange.halfLife.contains(block.halfLife) { fail("security.auto_block.half_life", ConfigRange.halfLife.message(got: "\(block.halfLife)")) }
        if !ConfigRange.blockSeconds.contains(block.blockSeconds) { fail("security.auto_block.block_seconds", ConfigRange.blockSeconds.message(got: "\(block.blockSeconds)")) }
        if !ConfigRange.blockSeconds.contains(block.maxBlockSeconds) || block.maxBlockSeconds < block.blockSeconds {
            fail("security.auto_block.max_block_seconds", "must be at least block_seconds (\(block.blockSeconds)) and at most 31536000 (got \(block.maxBlockSeconds))")
        }
        for (key, list) in [
            ("security.allow_ips", security.allowIPs), ("security.deny_ips", security.denyIPs), ("admin.deny_cidrs", admin.denyCIDRs),
            ("security.auto_block.exempt", block.exempt),
        ] {
            for (index, cidr) in list.enumerated() where CIDR(cidr) == nil {
                fail("\(key)[\(index)]", "is not an address or network (got \"\(cidr)\"); write e.g. 203.0.113.7, 10.0.0.0/8 or 2001:db8::/32")
            }
        }
        for (index, origin) in security.corsOrigins.enumerated() where origin != "*" && !(origin.hasPrefix("http://") || origin.hasPrefix("https://")) {
            fail("security.cors_origins[\(index)]", "must be an origin like https://app.example.com, or * (got \"\(origin)\")")
        }
        check("shedding.max_in_flight", shedding.maxInFlight, .sheddingInFlight)
        check("shedding.max_memory_mb", shedding.maxMemoryMB, .sheddingMemory)
        if !ConfigRange.sheddingCPU.contains(shedding.maxCPUPercent) { fail("shedding.max_cpu_percent", ConfigRange.sheddingCPU.message(got: "\(shedding.maxCPUPercent)")) }
        check("shedding.retry_after", shedding.retryAfter, .retryAfter)
        return problems
    }
}

extension ConfigRange {
    package static let requestsPerMinute = ConfigRange(1, 1_000_000_000, defaultValue: "none")
    package static let burst = ConfigRange(1, 1_000_000_000, defaultValue: "requests_per_minute")
    package static let tokensPerMinute = ConfigRange(1, 1_000_000_000_000, defaultValue: "none")
    package static let concurrency = ConfigRange(1, 1_000_000, defaultValue: "none")
    package static let outputTokens = ConfigRange(0, 10_000_000, defaultValue: "1024")
    package static let tokenBudget = ConfigRange(1, 1_000_000_000_000_000, defaultValue: "none")
    package static let costBudget = ConfigRange(0, 1_000_000_000, includesLower: false, unit: "US dollars", defaultValue: "none")
    package static let price = ConfigRange(0, 1_000_000, unit: "US dollars per million tokens", defaultValue: "the built-in price")
    package static let sheddingInFlight = ConfigRange(0, 10_000_000, defaultValue: "0 (off)")
    package static let sheddingMemory = ConfigRange(0, 10_000_000, unit: "MiB", defaultValue: "0 (off)")
    package static let sheddingCPU = ConfigRange(0, 100_000, unit: "percent of one core", defaultValue: "0 (off)")
    package static let retryAfter = ConfigRange(1, 3600, unit: "seconds", defaultValue: "1")
    package static let blockThreshold = ConfigRange(1, 1_000_000, defaultValue: "50")
    package static let halfLife = ConfigRange(1, 86_400, unit: "seconds", defaultValue: "300")
    package static let blockSeconds = ConfigRange(1, 31_536_000, unit: "seconds", defaultValue: "900")
}
