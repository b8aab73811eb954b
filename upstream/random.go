package upstream

import "math/rand/v2"

// Random picks a peer at random, in proportion to the weights
// (ngx_http_upstream_get_random_peer); with two, it draws two different
// peers and takes the one with fewer connections for its weight
// (ngx_http_upstream_get_random2_peer). After 20 unlucky draws, as
// nginx, round-robin.
func (t *Try) Random(two bool) *Peer {
	t.all.mu.Lock()
	defer t.all.mu.Unlock()
	ps := t.peers
	if ps.single {
		return t.roundRobin()
	}
	now := t.all.clock()
	draw := func() int {
		for {
			i := ps.byWeight(uint32(rand.IntN(ps.totalWeight)))
			if !t.tried[i] && ps.Peer[i].usable(now) {
				return i
			}
			if t.draws++; t.draws > 20 {
				return -1
			}
		}
	}
	i := draw()
	if i >= 0 && two {
		// The second draw is another peer.
		t.tried[i] = true
		j := draw()
		t.tried[i] = false
		if j >= 0 {
			a, b := ps.Peer[i], ps.Peer[j]
			if b.conns*a.Weight < a.conns*b.Weight {
				i = j
			}
		}
	}
	if i < 0 {
		return t.roundRobin()
	}
	return t.use(i, now)
}
