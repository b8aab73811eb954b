package upstream

import (
	"math"
	"testing"
	"time"
)

func peersOf(weights ...int) []*Peer {
	var out []*Peer
	for i, w := range weights {
		name := string(rune('a' + i))
		out = append(out, &Peer{Server: name, Name: name, Weight: w, MaxFails: 1, FailTimeout: 10 * time.Second})
	}
	return out
}

// Random picks in proportion to the weights, never a peer down.
func TestRandomWeights(t *testing.T) {
	list := peersOf(1, 3, 6, 5)
	list[3].Down = true
	ps := NewPeers(list, nil)
	counts := map[string]int{}
	const n = 20000
	for i := 0; i < n; i++ {
		try := ps.NewTry()
		p := try.Random(false)
		counts[p.Name]++
		try.Free(false)
	}
	if counts["d"] != 0 {
		t.Errorf("the peer that is down was picked %d times", counts["d"])
	}
	// a, b, c take 1/10, 3/10 and 6/10 of the picks (d's share goes
	// back to round-robin draws, which are also in these proportions).
	for name, share := range map[string]float64{"a": 0.1, "b": 0.3, "c": 0.6} {
		if got := float64(counts[name]) / n; math.Abs(got-share) > 0.03 {
			t.Errorf("%s: %.3f of the picks, want about %.1f", name, got, share)
		}
	}
}

// A request does not draw a peer it tried; random two takes the peer
// with fewer connections.
func TestRandomTriedAndTwo(t *testing.T) {
	ps := NewPeers(peersOf(1, 1), nil)
	try := ps.NewTry()
	first := try.Random(false)
	try.Free(true)
	if second := try.Random(false); second == nil || second == first {
		t.Errorf("after %s failed: %v", first.Name, second)
	}
	busy := NewPeers(peersOf(1, 1), nil)
	hold := busy.NewTry()
	held := hold.RoundRobin() // one connection on it
	for i := 0; i < 200; i++ {
		try := busy.NewTry()
		p := try.Random(true)
		if p == held {
			t.Fatalf("random two took %s, which has a connection, over an idle peer", p.Name)
		}
		try.Free(false)
	}
}
