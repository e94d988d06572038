package listener

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxConns is the connection cap when Options.MaxConns is not set:
// a quarter of the process's descriptor limit (the rest is headroom for
// downloads, the journal and the API client), between 64 and 4096.
func DefaultMaxConns() int {
	return min(max(fdLimit()/4, 64), 4096)
}

// connLimiter keeps the connections of one Server under a cap. It sees
// every connection through http.Server.ConnState.
type connLimiter struct {
	max   int
	mu    sync.Mutex
	conns map[net.Conn]*connInfo
	shed  uint64 // connections closed to stay under the cap
}

type connInfo struct {
	busy  bool      // a request is in flight
	since time.Time // when it last became idle (or was accepted)
}

func newConnLimiter(n int) *connLimiter {
	return &connLimiter{max: n, conns: make(map[net.Conn]*connInfo)}
}

func (l *connLimiter) track(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateNew:
		if len(l.conns) >= l.max && !l.evictLocked() {
			l.shed++
			c.Close() // every connection is busy with a request: refuse this one
			return
		}
		l.conns[c] = &connInfo{since: time.Now()}
	case http.StateActive:
		if ci := l.conns[c]; ci != nil {
			ci.busy = true
		}
	case http.StateIdle:
		if ci := l.conns[c]; ci != nil {
			ci.busy, ci.since = false, time.Now()
		}
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	}
}

// evictLocked closes the longest-idle connection without a request in
// flight; false when there is none.
func (l *connLimiter) evictLocked() bool {
	var oldest net.Conn
	var at time.Time
	for c, ci := range l.conns {
		if !ci.busy && (oldest == nil || ci.since.Before(at)) {
			oldest, at = c, ci.since
		}
	}
	if oldest == nil {
		return false
	}
	delete(l.conns, oldest)
	l.shed++
	oldest.Close()
	return true
}

// count returns the connections tracked and those shed so far.
func (l *connLimiter) count() (open int, shed uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns), l.shed
}
