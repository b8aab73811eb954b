// Package upstream owns the upstream {} blocks' servers and how a
// request picks one: the balancers, written after nginx's so that the
// same configuration sends the same requests to the same servers
// (integration/balance replays nginx's picks), and the passive health
// they share (max_fails, fail_timeout, backups). Still to come with
// issue #6: the directives' model, active health checks, keep-alive
// pools and the backend HTTP/1.x client; until then the directive table
// checks upstream blocks as nginx does (server/core.go) and edge refuses
// to serve them.
package upstream
