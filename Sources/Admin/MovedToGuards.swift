import Guards

// The sign-in limiter and the cross-site check live in Guards now (issue 9). Their tests are
// still in Tests/EndToEndTests/AdminAPITests.swift and reach them through `@testable import
// Admin`; these names keep those tests compiling until they move to GuardsTests, then go.
typealias LoginLimiter = Guards.LoginLimiter
typealias CrossSiteCheck = Guards.CrossSiteCheck
