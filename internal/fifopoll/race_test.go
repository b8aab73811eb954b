//go:build race

package fifopoll

// The race detector randomizes the scheduler's order.
const raceEnabled = true
