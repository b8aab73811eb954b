package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// Peer is one address of an upstream's server line, with its passive
// health (ngx_http_upstream_rr_peer_t).
type Peer struct {
	// Server is the server line's address as written: consistent
	// hashing places a server by it.
	Server string
	// Name is the address connected to: "127.0.0.1:8000", "unix:/x.sock".
	Name        string
	Weight      int
	MaxFails    int
	FailTimeout time.Duration
	MaxConns    int
	Down        bool

	// The balancers' state, guarded by the Peers' mutex.
	currentWeight, effectiveWeight int
	conns, fails                   int
	accessed, checked              int64 // Unix seconds, as nginx's ngx_time()

	// unhealthy is the active health check's verdict, read by the
	// balancers without a lock; healthMu guards checks, the verdicts in a
	// row against it, and changes of unhealthy.
	unhealthy atomic.Bool
	healthMu  sync.Mutex
	checks    int
}

// Check records an active health check of the peer: it goes down after
// fails failed checks in a row, and up again after passes good ones.
// It reports a change, and the peer's health after it.
func (peer *Peer) Check(ok bool, fails, passes int) (changed, healthy bool) {
	peer.healthMu.Lock()
	defer peer.healthMu.Unlock()
	healthy = !peer.unhealthy.Load()
	if ok == healthy {
		peer.checks = 0
		return false, healthy
	}
	peer.checks++
	need := fails
	if ok {
		need = passes
	}
	if peer.checks < need {
		return false, healthy
	}
	peer.checks = 0
	peer.unhealthy.Store(!ok)
	return true, ok
}

// Healthy is the active health check's verdict (true without checks).
func (peer *Peer) Healthy() bool { return !peer.unhealthy.Load() }

// Peers are the primary servers of an upstream, with their backups
// (ngx_http_upstream_rr_peers_t and its next).
type Peers struct {
	mu          sync.Mutex
	Peer        []*Peer
	Backup      *Peers
	totalWeight int
	tries       int  // the peers that are not down
	single      bool // one primary and no backup: never marked failed
}

// NewPeers makes the peers of an upstream: primaries and backups (either
// may be empty).
func NewPeers(primary, backup []*Peer) *Peers {
	p := newPeers(primary)
	p.single = len(primary) == 1
	if len(backup) > 0 {
		p.Backup = newPeers(backup)
		p.single = false // nor are the backups, even one
	}
	return p
}

func newPeers(list []*Peer) *Peers {
	p := &Peers{Peer: list}
	for _, peer := range list {
		peer.effectiveWeight = peer.Weight
		p.totalWeight += peer.Weight
		if !peer.Down {
			p.tries++
		}
	}
	return p
}

// All are the peers, primaries then backups.
func (p *Peers) All() []*Peer {
	out := append([]*Peer{}, p.Peer...)
	if p.Backup != nil {
		out = append(out, p.Backup.Peer...)
	}
	return out
}

// clock is nginx's ngx_time(): passive health counts in seconds.
func (p *Peers) clock() int64 { return time.Now().Unix() }

// Try is one request's way through the peers: those it tried, the one
// in use, and how many tries are left (nginx's peer.tries, which
// proxy_next_upstream spends).
type Try struct {
	all     *Peers
	peers   *Peers // the primaries, or the backups once they failed
	tried   []bool
	current *Peer
	Tries   int
	// The key balancers' state: draws so far, and the hash reached.
	draws, rehash int
	hash          uint32
	placed        bool // Consistent found the key's first point
}

// NewTry starts a request's way through p.
func (p *Peers) NewTry() *Try {
	t := &Try{}
	p.Start(t)
	return t
}

// Start makes t a new request's way through p, reusing its memory.
func (p *Peers) Start(t *Try) {
	n := len(p.Peer)
	tries := p.tries
	if p.Backup != nil {
		n = max(n, len(p.Backup.Peer))
		tries += p.Backup.tries
	}
	tried := t.tried[:0]
	if cap(tried) < n {
		tried = make([]bool, n)
	}
	tried = tried[:n]
	clear(tried)
	*t = Try{all: p, peers: p, tried: tried, Tries: tries}
}

// usable is the test every balancer makes of a peer it considers.
func (peer *Peer) usable(now int64) bool {
	if peer.Down || peer.unhealthy.Load() {
		return false
	}
	if peer.MaxFails > 0 && peer.fails >= peer.MaxFails && now-peer.checked <= int64(peer.FailTimeout/time.Second) {
		return false
	}
	return peer.MaxConns == 0 || peer.conns < peer.MaxConns
}

// RoundRobin picks the next peer by smooth weighted round-robin
// (ngx_http_upstream_get_round_robin_peer): the primaries, then the
// backups when no primary is left; nil when none is ("no live
// upstreams").
func (t *Try) RoundRobin() *Peer {
	t.all.mu.Lock()
	defer t.all.mu.Unlock()
	return t.roundRobin()
}

func (t *Try) roundRobin() *Peer {
	for {
		ps := t.peers
		if ps.single {
			if peer := ps.Peer[0]; !peer.Down && peer.Healthy() && (peer.MaxConns == 0 || peer.conns < peer.MaxConns) {
				t.current = peer
				peer.conns++
				return peer
			}
		} else {
			now := t.all.clock()
			if i := t.weighted(now, nil); i >= 0 {
				return t.use(i, now)
			}
		}
		if ps.Backup == nil {
			return nil
		}
		t.peers = ps.Backup
		clear(t.tried)
	}
}

// weighted is ngx_http_upstream_get_peer's choice, by smooth weighted
// round-robin, among the peers in use not tried, usable and (when ok is
// not nil) ok; -1 when there is none.
func (t *Try) weighted(now int64, ok func(*Peer) bool) int {
	ps := t.peers
	best, total := -1, 0
	for i, peer := range ps.Peer {
		if t.tried[i] || !peer.usable(now) || ok != nil && !ok(peer) {
			continue
		}
		peer.currentWeight += peer.effectiveWeight
		total += peer.effectiveWeight
		if peer.effectiveWeight < peer.Weight {
			peer.effectiveWeight++
		}
		if best < 0 || peer.currentWeight > ps.Peer[best].currentWeight {
			best = i
		}
	}
	if best >= 0 {
		ps.Peer[best].currentWeight -= total
	}
	return best
}

// use takes peer i of the peers in use.
func (t *Try) use(i int, now int64) *Peer {
	peer := t.peers.Peer[i]
	t.tried[i] = true
	t.current = peer
	peer.conns++
	if now-peer.checked > int64(peer.FailTimeout/time.Second) {
		peer.checked = now
	}
	return peer
}

// Current is the peer in use.
func (t *Try) Current() *Peer { return t.current }

// Free reports how the peer in use did (ngx_http_upstream_free_round_robin_peer):
// a failure counts against it, and weighs it down until it recovers;
// a success after a failed check marks it live again. It reports a
// failure that leaves the peer with max_fails failures: nginx's
// "upstream server temporarily disabled".
func (t *Try) Free(failed bool) (disabled bool) {
	t.all.mu.Lock()
	defer t.all.mu.Unlock()
	peer := t.current
	if peer == nil {
		return
	}
	t.current = nil
	peer.conns--
	if t.peers.single {
		t.Tries = 0
		return false
	}
	if failed {
		now := t.all.clock()
		peer.fails++
		peer.accessed, peer.checked = now, now
		if peer.MaxFails > 0 {
			peer.effectiveWeight -= peer.Weight / peer.MaxFails
			disabled = peer.fails >= peer.MaxFails
		}
		if peer.effectiveWeight < 0 {
			peer.effectiveWeight = 0
		}
	} else if peer.accessed < peer.checked {
		peer.fails = 0
	}
	if t.Tries > 0 {
		t.Tries--
	}
	return disabled
}
