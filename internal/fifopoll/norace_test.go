//go:build !race

package fifopoll

const raceEnabled = false
