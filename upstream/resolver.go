package upstream

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edge/internal/conf"
)

// Resolver is nginx's resolver directive: the name servers that resolve
// upstream host names, instead of the system's. Its answers are kept for
// Valid (nginx keeps them for their TTL, which Go's resolver does not
// tell: docs/differences.md), so that a changing name (a container
// restarted elsewhere) is seen again within that time.
type Resolver struct {
	Servers []string // "ip:port"
	// Valid is how long an answer is used; 0 means 5 s.
	Valid time.Duration
	// IPv4 and IPv6 say which addresses are looked up (nginx's ipv4=
	// and ipv6=, both on by default).
	IPv4, IPv6 bool
	// Timeout bounds a lookup (resolver_timeout; 0 means 30 s).
	Timeout time.Duration

	once sync.Once
	r    *net.Resolver
	next atomic.Uint32 // the server asked next, round-robin

	// mu guards cache and inflight, the lookups under way.
	mu       sync.Mutex
	cache    map[string]cached
	inflight map[string]chan struct{}
}

// cached is an answer and until when it is used.
type cached struct {
	addrs []netip.Addr
	err   error
	until time.Time
}

func (r *Resolver) resolver() *net.Resolver {
	r.once.Do(func() {
		r.r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			server := r.Servers[int(r.next.Add(1))%len(r.Servers)]
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}}
	})
	return r.r
}

// Lookup resolves host to its addresses, from the cache while valid.
// One lookup runs per name at a time, bounded by Timeout alone: a
// caller whose ctx ends first gets ctx's error, and the answer, when it
// comes, is kept for the others.
func (r *Resolver) Lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	if a, ok := r.cache[host]; ok && time.Now().Before(a.until) {
		r.mu.Unlock()
		return a.addrs, a.err
	}
	wait, ok := r.inflight[host]
	if !ok {
		if r.inflight == nil {
			r.inflight = map[string]chan struct{}{}
		}
		wait = make(chan struct{})
		r.inflight[host] = wait
		go r.resolve(host, wait)
	}
	r.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.cache[host]
	return a.addrs, a.err
}

// resolve looks host up within Timeout and keeps the answer for Valid.
func (r *Resolver) resolve(host string, done chan struct{}) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	network := "ip"
	switch {
	case r.IPv4 && !r.IPv6:
		network = "ip4"
	case r.IPv6 && !r.IPv4:
		network = "ip6"
	}
	addrs, err := r.resolver().LookupNetIP(ctx, network, host)
	valid := r.Valid
	if valid <= 0 {
		valid = 5 * time.Second
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]cached{}
	}
	r.cache[host] = cached{addrs: addrs, err: err, until: time.Now().Add(valid)}
	delete(r.inflight, host)
	r.mu.Unlock()
	close(done)
}

// dialVia connects to host:port through r, trying its addresses in turn.
func (r *Resolver) dialVia(ctx context.Context, d *net.Dialer, host, port string) (net.Conn, error) {
	addrs, err := r.Lookup(ctx, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	if len(addrs) == 0 {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}
	var first error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// ParseResolver reads a resolver directive's arguments as
// ngx_resolver_create does: addresses (a name is resolved now, by the
// system, as nginx does), "valid=", "ipv4=", "ipv6="; the error is
// nginx's message.
func ParseResolver(args []string) (*Resolver, error) {
	r := &Resolver{IPv4: true, IPv6: true}
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "valid="):
			v, err := conf.ParseTime(a[6:], true)
			if err != nil {
				return nil, errors.New("invalid parameter: " + a)
			}
			r.Valid = v
			continue
		case strings.HasPrefix(a, "ipv4=") || strings.HasPrefix(a, "ipv6="):
			var on bool
			switch a[5:] {
			case "on":
				on = true
			case "off":
			default:
				return nil, errors.New("invalid parameter: " + a)
			}
			if a[3] == '4' {
				r.IPv4 = on
			} else {
				r.IPv6 = on
			}
			continue
		case strings.HasPrefix(a, "status_zone="):
			continue // a shared memory zone for statistics: none in edge
		}
		servers, err := resolverAddrs(a)
		if err != nil {
			return nil, err
		}
		r.Servers = append(r.Servers, servers...)
	}
	if !r.IPv4 && !r.IPv6 {
		return nil, errors.New(`"ipv4" and "ipv6" cannot both be "off"`)
	}
	if len(r.Servers) == 0 {
		return nil, errors.New("no name servers defined")
	}
	return r, nil
}

// resolverAddrs are the addresses of one name server argument: an
// address, [ipv6], with or without a port (53), or a name resolved now.
func resolverAddrs(a string) ([]string, error) {
	host, port := a, "53"
	if h, p, err := net.SplitHostPort(a); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(a, "[") && strings.HasSuffix(a, "]") {
		host = a[1 : len(a)-1]
	}
	if n, ok := atoi(port); !ok || n < 1 || n > 65535 {
		return nil, errors.New(`invalid port in resolver "` + a + `"`)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{net.JoinHostPort(ip.String(), port)}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(ips) == 0 {
		return nil, errors.New(`host not found in resolver "` + a + `"`)
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = net.JoinHostPort(ip, port)
	}
	return out, nil
}
