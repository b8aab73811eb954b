// Package upstream will own the upstream {} blocks and their directives,
// the balancers, peer state, health checks, keep-alive pools and the
// backend HTTP/1.x client (issue #6). Until then the directive table
// checks upstream blocks as nginx does (server/core.go) and refuses to
// serve them.
package upstream
