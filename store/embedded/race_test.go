//go:build race

package embedded

// raceEnabled: this test binary runs under the race detector, which makes
// every round of the crash test several times slower.
const raceEnabled = true
