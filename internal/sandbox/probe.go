package sandbox

import (
	"net/http"
	"strings"
	"time"
)

// The CDN side of the output files: clients watch future links appear by
// probing them (HEAD, or a GET of one byte), and a CDN may refuse HEAD,
// limit the probe rate, or fail. Downloads (plain GETs) are never touched.

// isProbe tells a probe of an output file from a download: a HEAD, or a
// GET of a bounded byte range ("bytes=0-0") is a probe; a plain GET, or a
// GET of an open-ended range ("bytes=1000-", resuming a download), is a
// download.
func isProbe(r *http.Request) bool {
	if r.Method == http.MethodHead {
		return true
	}
	rng := strings.TrimSpace(r.Header.Get("Range"))
	return r.Method == http.MethodGet && rng != "" && !strings.HasSuffix(rng, "-")
}

// window holds the times of the events of the last second, oldest first,
// in a slice used as a queue: memory stays within about twice the most
// events that ever fell within one second.
type window struct {
	t    []time.Time
	head int
}

// expire forgets the events at or before now-1s: what remains is the
// window (now-1s, now].
func (q *window) expire(now time.Time) {
	cut := now.Add(-time.Second)
	for q.head < len(q.t) && !q.t[q.head].After(cut) {
		q.t[q.head] = time.Time{}
		q.head++
	}
	switch {
	case q.head == len(q.t):
		q.t, q.head = q.t[:0], 0
	case q.head > len(q.t)/2:
		n := copy(q.t, q.t[q.head:])
		q.t, q.head = q.t[:n], 0
	}
}

// len is how many events the window holds.
func (q *window) len() int { return len(q.t) - q.head }

func (q *window) push(t time.Time) { q.t = append(q.t, t) }

// probeGate counts a request for an output file and, when it is a probe,
// applies the CDN knobs to it: Options.ProbeRateLimit (429), then
// Options.ProbeErrorRate (503), then Options.HeadStatus (HEAD refused).
// It reports whether r is a probe and whether the answer was written; if
// not, the caller serves the file and then calls probeServed with the
// status it answered.
func (s *Server) probeGate(w http.ResponseWriter, r *http.Request) (probe, answered bool) {
	if !isProbe(r) {
		return false, false
	}
	now := time.Now()
	s.mu.Lock()
	s.stats.Probes++
	s.probesSeen.expire(now)
	s.probesSeen.push(now)
	s.stats.MaxProbesPerSecond = max(s.stats.MaxProbesPerSecond, s.probesSeen.len())
	// Every probe draws, so the k-th probe to arrive fails or not by the
	// seed and k alone.
	fail := s.opts.ProbeErrorRate > 0 && s.probeRng.Float64() < s.opts.ProbeErrorRate
	limited := false
	if lim := s.opts.ProbeRateLimit; lim > 0 {
		s.probesOK.expire(now)
		if s.probesOK.len() >= lim {
			limited = true
		} else {
			s.probesOK.push(now)
		}
	}
	switch {
	case limited:
		s.stats.ProbesRateLimited++
	case fail:
		s.stats.ProbeErrors++
	}
	s.mu.Unlock()

	head := r.Method == http.MethodHead
	switch {
	case limited:
		w.Header().Set("Retry-After", "1")
		cdnError(w, head, http.StatusTooManyRequests)
	case fail:
		cdnError(w, head, http.StatusServiceUnavailable)
	case head && s.opts.HeadStatus != 0:
		if s.opts.HeadStatus == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET")
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(s.opts.HeadStatus)
	default:
		return true, false
	}
	return true, true
}

// probeServed counts a probe that the file answered: ready when the
// status is 200 or 206.
func (s *Server) probeServed(status int) {
	if status != http.StatusOK && status != http.StatusPartialContent {
		return
	}
	s.mu.Lock()
	s.stats.ProbesReady++
	s.mu.Unlock()
}

// cdnError writes the error page of the CDN's proxy (nginx's HTML), with
// no body to a HEAD.
func cdnError(w http.ResponseWriter, head bool, status int) {
	if head {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	writeFetchError(w, status, true)
}
