package core

// Unexported names the external tests (package core_test) assert on.
var DefaultPrefix = defaultPrefix

const FailClosedRetryAfter = failClosedRetryAfter
