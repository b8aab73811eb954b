package upstream

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// The balancers that place a request by a key: hash (Cache::Memcached's
// formula), hash consistent (Cache::Memcached::Fast's ketama points, so
// that edge and nginx send a key to the same server), ip_hash. Each goes
// back to round-robin after 20 unlucky draws, as nginx's do.

// Hash picks a peer by key (ngx_http_upstream_get_hash_peer); one peer
// is round-robin.
func (t *Try) Hash(key string) *Peer {
	t.all.mu.Lock()
	defer t.all.mu.Unlock()
	ps := t.peers
	if t.draws > 20 || ps.single {
		return t.roundRobin()
	}
	now := t.all.clock()
	for {
		crc := uint32(0)
		if t.rehash > 0 {
			crc = crc32.ChecksumIEEE([]byte(strconv.Itoa(t.rehash)))
		}
		crc = crc32.Update(crc, crc32.IEEETable, []byte(key))
		t.hash += (crc >> 16) & 0x7fff
		t.rehash++
		i := ps.byWeight(t.hash)
		if peer := ps.Peer[i]; !t.tried[i] && peer.usable(now) {
			return t.use(i, now)
		}
		if t.draws++; t.draws > 20 {
			return t.roundRobin()
		}
	}
}

// byWeight is the peer a hash value falls on, each peer taking as many
// values as its weight.
func (p *Peers) byWeight(h uint32) int {
	w := int(h % uint32(p.totalWeight))
	i := 0
	for w >= p.Peer[i].Weight {
		w -= p.Peer[i].Weight
		i++
	}
	return i
}

// IPHash picks a peer by the client's address: the first three bytes of
// an IPv4 address, all of an IPv6 one, nothing of a unix socket
// (ngx_http_upstream_get_ip_hash_peer).
func (t *Try) IPHash(client netip.Addr) *Peer {
	t.all.mu.Lock()
	defer t.all.mu.Unlock()
	ps := t.peers
	if t.draws > 20 || ps.single {
		return t.roundRobin()
	}
	var addr []byte
	switch {
	case client.Is4() || client.Is4In6():
		a := client.Unmap().As4()
		addr = a[:3]
	case client.Is6():
		a := client.As16()
		addr = a[:]
	default:
		addr = []byte{0, 0, 0}
	}
	if t.hash == 0 {
		t.hash = 89
	}
	now := t.all.clock()
	for {
		for _, b := range addr {
			t.hash = (t.hash*113 + uint32(b)) % 6271
		}
		i := ps.byWeight(t.hash)
		if peer := ps.Peer[i]; !t.tried[i] && peer.usable(now) {
			return t.use(i, now)
		}
		if t.draws++; t.draws > 20 {
			return t.roundRobin()
		}
	}
}

// Ring is the points of hash consistent: 160 per unit of weight.
type Ring struct {
	points []point
}

type point struct {
	hash   uint32
	server string
}

// NewRing places the servers of p as ngx_http_upstream_init_chash does.
func NewRing(p *Peers) *Ring {
	r := &Ring{}
	for _, peer := range p.Peer {
		host, port := splitServer(peer.Server)
		base := crc32.ChecksumIEEE([]byte(host + "\x00" + port))
		var prev [4]byte
		for j := 0; j < peer.Weight*160; j++ {
			h := crc32.Update(base, crc32.IEEETable, prev[:])
			r.points = append(r.points, point{h, peer.Server})
			binary.LittleEndian.PutUint32(prev[:], h)
		}
	}
	sort.SliceStable(r.points, func(i, j int) bool { return r.points[i].hash < r.points[j].hash })
	// Equal hashes keep the first.
	out := r.points[:0]
	for i, pt := range r.points {
		if i == 0 || pt.hash != out[len(out)-1].hash {
			out = append(out, pt)
		}
	}
	r.points = out
	return r
}

// splitServer is the host and port a server's points are made of: a
// unix socket is all host; a trailing ":digits" is the port.
func splitServer(s string) (host, port string) {
	if len(s) >= 5 && strings.EqualFold(s[:5], "unix:") {
		return s[5:], ""
	}
	for j := len(s) - 1; j >= 0; j-- {
		c := s[j]
		if c == ':' {
			return s[:j], s[j+1:]
		}
		if c < '0' || c > '9' {
			break
		}
	}
	return s, ""
}

// find is the first point at or after h.
func (r *Ring) find(h uint32) int {
	return sort.Search(len(r.points), func(i int) bool { return r.points[i].hash >= h })
}

// Consistent picks a peer by key on the ring
// (ngx_http_upstream_get_chash_peer): the server of the first point at
// or after the key's hash, the next points' servers when it cannot take
// the request; among peers of the same server, by weighted round-robin.
func (t *Try) Consistent(r *Ring, key string) *Peer {
	t.all.mu.Lock()
	defer t.all.mu.Unlock()
	if !t.placed {
		t.hash, t.placed = uint32(r.find(crc32.ChecksumIEEE([]byte(key)))), true
	}
	now := t.all.clock()
	for {
		server := r.points[int(t.hash)%len(r.points)].server
		if i := t.weighted(now, func(p *Peer) bool { return p.Server == server }); i >= 0 {
			return t.use(i, now)
		}
		t.hash++
		if t.draws++; t.draws >= len(r.points) {
			return nil
		}
	}
}

// LeastConn picks the peer with the fewest connections for its weight,
// by weighted round-robin among equals (ngx_http_upstream_get_least_conn_peer);
// the backups when no primary is left.
func (t *Try) LeastConn() *Peer {
	t.all.mu.Lock()
	defer t.all.mu.Unlock()
	for {
		ps := t.peers
		if ps.single {
			return t.roundRobin()
		}
		now := t.all.clock()
		var best *Peer
		bi, many := 0, false
		for i, peer := range ps.Peer {
			if t.tried[i] || !peer.usable(now) {
				continue
			}
			switch {
			case best == nil || peer.conns*best.Weight < best.conns*peer.Weight:
				best, bi, many = peer, i, false
			case peer.conns*best.Weight == best.conns*peer.Weight:
				many = true
			}
		}
		if best != nil {
			if many {
				first, total := best, 0
				for i := bi; i < len(ps.Peer); i++ {
					peer := ps.Peer[i]
					if t.tried[i] || !peer.usable(now) || peer.conns*first.Weight != first.conns*peer.Weight {
						continue
					}
					peer.currentWeight += peer.effectiveWeight
					total += peer.effectiveWeight
					if peer.effectiveWeight < peer.Weight {
						peer.effectiveWeight++
					}
					if peer.currentWeight > best.currentWeight {
						best, bi = peer, i
					}
				}
				best.currentWeight -= total
			}
			return t.use(bi, now)
		}
		if ps.Backup == nil {
			return nil
		}
		t.peers = ps.Backup
		clear(t.tried)
	}
}
