// Package upstream owns the upstream {} blocks' servers and how a
// request picks one: the balancers, written after nginx's so that the
// same configuration sends the same requests to the same servers
// (integration/balance replays nginx's picks), and the passive health
// they share (max_fails, fail_timeout, backups); the upstream block's
// model (conf.go); connecting to a peer, with nginx's error words and,
// for unix sockets, the cause (dial.go); the keep-alive cache of idle
// connections (pool.go). Still to come with issue #6: active health
// checks and the backend HTTP/1.x client; until then edge refuses to serve proxy_pass and upstream
// blocks, which `edge -t` checks as nginx does.
package upstream
