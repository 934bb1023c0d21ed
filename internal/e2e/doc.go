// Package e2e holds end-to-end tests of tollgate under attack: real HTTP
// servers over real TCP, in front of a real redis-server, driven by clients
// that misbehave (half-closed connections, HTTP/2 stream resets) to get past
// their limits; the rules engine's concurrency limits, beside its rate
// limits, on a real redis-server and a real Redis Cluster; and the pacing
// client (package pacer) against every HTTP front end (httplimit's Gate,
// chi, gin, echo v4 and v5), whose modules the root module cannot require.
// It is a module of its own so that its test-only requirements stay out of
// every library module; nothing imports it.
package e2e
