//go:build race

package harness

// raceBuild: tests run with -race build edge with it too, so that the
// integration tests catch the server's data races.
const raceBuild = true
