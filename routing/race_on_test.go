//go:build race

package routing

// raceEnabled: the race detector slows allocation-heavy tests tenfold.
const raceEnabled = true
