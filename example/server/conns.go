package main

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// limitConns wraps ln so that each client address (the TCP peer) holds at
// most perIP open connections, and each write to a connection must finish
// within writeTimeout. Peers in exempt (the -trusted-proxies: each carries
// many clients) are not capped; their writes are bounded all the same.
//
// A connection over the cap is closed as soon as it is accepted, before
// anything is read from it. The write deadline is set before each write and
// bounds that write only: a client that stops reading (its receive window
// full) fails the write and loses the connection after writeTimeout, while
// a handler that takes long before or between its writes is never cut off.
// http.Server's WriteTimeout, by contrast, runs from the end of the request
// headers and cuts slow handlers too.
func limitConns(ln net.Listener, perIP int, writeTimeout time.Duration, exempt []netip.Prefix) *connLimiter {
	return &connLimiter{Listener: ln, perIP: perIP, writeTimeout: writeTimeout, exempt: exempt, open: make(map[netip.Addr]int)}
}

// connLimiter is the listener of [limitConns].
type connLimiter struct {
	net.Listener
	perIP        int
	writeTimeout time.Duration
	exempt       []netip.Prefix

	mu      sync.Mutex
	open    map[netip.Addr]int
	onClose func(netip.Addr) // tests: told of every counted connection closed
}

// Accept returns the next connection whose address is under its cap,
// closing those over it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := peerAddr(c)
		if l.exempted(ip) {
			return &limitedConn{Conn: c, l: l, ip: ip, uncounted: true}, nil
		}
		l.mu.Lock()
		over := l.open[ip] >= l.perIP
		if !over {
			l.open[ip]++
		}
		l.mu.Unlock()
		if over {
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l, ip: ip}, nil
	}
}

// exempted reports whether ip is in one of l.exempt.
func (l *connLimiter) exempted(ip netip.Addr) bool {
	for _, p := range l.exempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// release counts one connection of ip closed.
func (l *connLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
	onClose := l.onClose
	l.mu.Unlock()
	if onClose != nil {
		onClose(ip)
	}
}

// peerAddr is c's remote IP (IPv4 in IPv6 unmapped), or the zero Addr for
// a connection that is not TCP: those share one count.
func peerAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// limitedConn is a connection counted by its connLimiter, with a deadline
// on each write.
type limitedConn struct {
	net.Conn
	l         *connLimiter
	ip        netip.Addr
	uncounted bool // an exempt peer's
	once      sync.Once
}

// Write writes p within the write timeout, counted from now.
func (c *limitedConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.l.writeTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Close closes the connection and releases its place under the cap, once.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if !c.uncounted {
		c.once.Do(func() { c.l.release(c.ip) })
	}
	return err
}
