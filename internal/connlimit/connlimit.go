// Package connlimit caps the open connections of a net.Listener, in total
// and per client IP, the way the Kafka door does: a connection past a cap is
// closed at once (reset, so a flood leaves no TIME_WAIT behind) and counted,
// and Accept goes on with the next one; open connections are unaffected.
// The REST API's listener uses it with ZOMBI_MAX_CONNECTIONS and
// ZOMBI_MAX_CONNECTIONS_PER_IP.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Listener wraps a net.Listener with the caps.
type Listener struct {
	net.Listener
	max, perIP int // 0: no cap

	mu    sync.Mutex
	open  int
	byIP  map[netip.Addr]int
	refus atomic.Uint64
}

// New caps ln at max open connections (0: none) and perIP per client
// address (0: none).
func New(ln net.Listener, max, perIP int) *Listener {
	return &Listener{Listener: ln, max: max, perIP: perIP, byIP: map[netip.Addr]int{}}
}

// Refused is how many connections were closed at a cap.
func (l *Listener) Refused() uint64 { return l.refus.Load() }

// Open is how many accepted connections are open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Accept returns the next connection within the caps.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if l.admit(ip) {
			return &conn{Conn: c, l: l, ip: ip}, nil
		}
		l.refus.Add(1)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // reset: nothing lingers for a refused peer
		}
		_ = c.Close()
	}
}

func (l *Listener) admit(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open >= l.max {
		return false
	}
	if l.perIP > 0 && ip.IsValid() {
		if l.byIP[ip] >= l.perIP {
			return false
		}
		l.byIP[ip]++
	}
	l.open++
	return true
}

func (l *Listener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perIP > 0 && ip.IsValid() {
		if n := l.byIP[ip] - 1; n > 0 {
			l.byIP[ip] = n
		} else {
			delete(l.byIP, ip)
		}
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// conn gives its slot back once, on the first Close.
type conn struct {
	net.Conn
	l    *Listener
	ip   netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}
