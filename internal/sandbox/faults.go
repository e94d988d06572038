package sandbox

import (
	"container/heap"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"time"
)

// fate is what the fault knobs decided for one job, training or workflow
// execution: how long it runs and what happens to its webhook. It is drawn
// from a random stream of its own, seeded by Options.Seed and the job's
// name, so the k-th job of two servers with the same seed has the same fate
// however the submits interleave.
type fate struct {
	dur  time.Duration // how long it runs
	drop bool          // its webhook is never sent
	dup  bool          // its webhook is sent twice
	late bool          // its webhook is sent LateWebhookDelay late
	// proxy: its success webhook lists the proxy links as output, not the
	// future links the submit announced (the real API can), so a client
	// must confirm it with a fetch.
	proxy bool
	// etaFactor scales the eta reported on submit when ETAError is set:
	// the job's true duration times a factor in [1-ETAError, 1+ETAError].
	etaFactor float64
}

// fateOf draws the fate of the job named name ("job 134701497"). It
// always makes the same draws, whichever knobs are set, so raising one rate
// only adds jobs to that fault: a job dropped at rate 0.1 is also dropped
// at rate 0.2 with the same seed.
func (s *Server) fateOf(name string) fate {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	r := rand.New(rand.NewPCG(s.seed, h.Sum64()))
	uDur, uDrop, uDup, uLate := r.Float64(), r.Float64(), r.Float64(), r.Float64()
	uProxy := r.Float64() // drawn after the others: adding it changed none of theirs
	uETA := r.Float64()
	o := &s.opts
	f := fate{dur: o.Delay}
	if o.DelayMax > o.Delay {
		f.dur += time.Duration(uDur * float64(o.DelayMax-o.Delay+1))
		f.dur = min(f.dur, o.DelayMax)
	}
	f.drop = o.DropWebhooks || uDrop < o.DropWebhookRate
	f.dup = o.DuplicateWebhooks || uDup < o.DuplicateWebhookRate
	f.late = uLate < o.LateWebhookRate
	f.proxy = uProxy < o.ProxyWebhookRate
	f.etaFactor = 1 + o.ETAError*(2*uETA-1)
	return f
}

// hookWaitLocked is how long after now the webhook of something done at
// doneAt is sent: WebhookDelay after it is done, plus LateWebhookDelay when
// late. The caller holds s.mu (Options.WebhookDelay may be changed by tests
// under it).
func (s *Server) hookWaitLocked(doneAt time.Time, f fate) time.Duration {
	wait := max(time.Until(doneAt), 0) + s.opts.WebhookDelay
	if f.late {
		wait += s.opts.LateWebhookDelay
	}
	return wait
}

// planHookLocked tells whether the webhook to raw of the job named what is
// to be armed, counting what its fate does to it: dropped, duplicated,
// late. raw must be an http(s) URL. The caller holds s.mu.
func (s *Server) planHookLocked(what, raw string, f fate) bool {
	if !validHookURL(what, raw, s.logf) {
		return false
	}
	if f.drop {
		s.stats.WebhooksDropped++
		why := "DropWebhookRate"
		if s.opts.DropWebhooks {
			why = "DropWebhooks"
		}
		s.logf("sandbox: %s: webhook dropped (%s)", what, why)
		return false
	}
	if s.closed {
		return false
	}
	if f.dup {
		s.stats.WebhooksDuplicated++
	}
	if f.late {
		s.stats.WebhooksLate++
		s.logf("sandbox: %s: webhook will be %v late (LateWebhookRate)", what, s.opts.LateWebhookDelay)
	}
	return true
}

// doneHeap holds the end times of the generation jobs still processing,
// earliest first.
type doneHeap []time.Time

func (h doneHeap) Len() int           { return len(h) }
func (h doneHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h doneHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *doneHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *doneHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// processingLocked forgets the jobs done at now and returns how many are
// still processing. The caller holds s.mu.
func (s *Server) processingLocked(now time.Time) int {
	for len(s.running) > 0 && !s.running[0].After(now) {
		heap.Pop(&s.running)
	}
	return len(s.running)
}

// startLocked counts a generation job that runs until doneAt as
// processing. The caller holds s.mu.
func (s *Server) startLocked(now, doneAt time.Time) {
	if !doneAt.After(now) {
		return
	}
	heap.Push(&s.running, doneAt)
	s.stats.MaxProcessing = max(s.stats.MaxProcessing, len(s.running))
}

// refuseLocked answers 429 and reports true when a submit must be refused:
// while Options.RateLimit submits remain to be refused, during a
// RateLimitBurst, or (queue true, for generation jobs) when QueueLimit
// jobs are processing. Otherwise it counts the submit as accepted, arming
// the next burst after every RateLimitEvery-th one, and reports false.
// The caller holds s.mu; it is released when the answer is 429.
func (s *Server) refuseLocked(w http.ResponseWriter, now time.Time, queue bool) bool {
	msg := msgRateLimit
	switch {
	case s.rateLimited < s.opts.RateLimit:
		s.rateLimited++
	case s.burstLeft > 0:
		s.burstLeft--
	case queue && s.opts.QueueLimit > 0 && s.processingLocked(now) >= s.opts.QueueLimit:
		msg = fmt.Sprintf("Rate limit exceeded. Maximum %d queued requests allowed.", s.opts.QueueLimit)
	default:
		s.accepted++
		if s.opts.RateLimitBurst > 0 && s.opts.RateLimitEvery > 0 && s.accepted%s.opts.RateLimitEvery == 0 {
			s.burstLeft = s.opts.RateLimitBurst
		}
		return false
	}
	s.stats.RateLimited++
	s.mu.Unlock()
	writePHP(w, http.StatusTooManyRequests, object{
		{"status", "error"},
		{"message", msg},
		{"retry_after", seconds(s.opts.RetryAfter)},
	})
	return true
}

// fetchFault counts a status call (fetch, training status, workflow run)
// and draws whether it fails (Options.FetchErrorRate): a status among 500,
// 502 and 503 with an HTML or a JSON body. When it fails, the error is
// written to w and failed is true; note is then the request log's note.
func (s *Server) fetchFault(w http.ResponseWriter) (note string, failed bool) {
	s.mu.Lock()
	s.stats.Fetches++
	draw := s.opts.FetchErrorRate > 0 && s.rng.Float64() < s.opts.FetchErrorRate
	var status int
	var html bool
	if draw {
		s.stats.FetchErrors++
		status, html = fetchErrorCodes[s.rng.IntN(len(fetchErrorCodes))], s.rng.IntN(2) == 0
	}
	s.mu.Unlock()
	if !draw {
		return "", false
	}
	return writeFetchError(w, status, html), true
}

var fetchErrorCodes = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}

// writeFetchError writes an injected server error the way the real stack
// does: Laravel's JSON, or the HTML page of the proxy in front.
func writeFetchError(w http.ResponseWriter, status int, html bool) string {
	if html {
		text := fmt.Sprintf("%d %s", status, http.StatusText(status))
		if status == http.StatusServiceUnavailable {
			text = "503 Service Temporarily Unavailable"
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", text, text)
		return fmt.Sprintf("injected %d (HTML)", status)
	}
	msg := "Server Error"
	switch status {
	case http.StatusBadGateway:
		msg = "Bad Gateway"
	case http.StatusServiceUnavailable:
		msg = "Service Unavailable"
	}
	writePHP(w, status, object{{"status", "error"}, {"message", msg}})
	return fmt.Sprintf("injected %d (JSON)", status)
}

// reqChunk is how many Requests one chunk of a reqLog holds.
const reqChunk = 512

// reqLog is the list of recorded requests, in fixed-size chunks so that an
// append never copies the entries before it and the pointer it returns
// stays valid.
type reqLog struct {
	chunks []*[reqChunk]Request
	n      int
}

// add appends r and returns a pointer to the stored copy.
func (l *reqLog) add(r Request) *Request {
	if l.n%reqChunk == 0 {
		l.chunks = append(l.chunks, new([reqChunk]Request))
	}
	p := &l.chunks[l.n/reqChunk][l.n%reqChunk]
	*p = r
	l.n++
	return p
}

// all returns a copy of every entry, in order (nil when there is none).
func (l *reqLog) all() []Request {
	if l.n == 0 {
		return nil
	}
	out := make([]Request, 0, l.n)
	for i, c := range l.chunks {
		out = append(out, c[:min(reqChunk, l.n-i*reqChunk)]...)
	}
	return out
}
