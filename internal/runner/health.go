package runner

import (
	"fmt"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
)

// Whether webhooks arrive is learned, not assumed: from the jobs of this
// process that expected one, and from the journal's recent jobs submitted
// with the same tunnel mode. When jobs that expected a webhook keep ending
// by their links or a fetch instead, waits stop holding their fetches back
// for a webhook (job.Params.NoWebhookGrace); while webhooks keep arriving,
// a job still costs no fetch at all.
const (
	// healthWindow is how many of the latest such jobs are looked at.
	healthWindow = 8
	// healthMin is how many are needed before webhooks are judged absent:
	// fewer, and a webhook is expected.
	healthMin = 2
	// healthAge is how far back the journal is read.
	healthAge = 24 * time.Hour
)

// webhookHealth remembers how the latest jobs that expected a webhook
// ended. It is safe for concurrent use.
type webhookHealth struct {
	mu     sync.Mutex
	recent []bool // true: ended by a webhook; oldest first
	seeded bool
	said   string // the last verdict given (debug lines say changes only)
}

// seed loads the journal's recent finished jobs of mode, once, before the
// first verdict.
func (h *webhookHealth) seed(j *journal.Journal, mode string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seeded {
		return
	}
	h.seeded = true
	if j == nil || mode == "" || mode == "none" {
		return
	}
	entries, err := j.List(journal.Filter{Since: now.Add(-healthAge), Limit: 64})
	if err != nil {
		return // a journal that cannot be read teaches nothing
	}
	var seen []bool
	for _, e := range entries { // newest first
		if e.Tunnel != mode || !e.Finished() || e.Via == "" || e.Via == string(job.ViaImmediate) {
			continue
		}
		seen = append(seen, e.Via == string(job.ViaWebhook))
		if len(seen) == healthWindow {
			break
		}
	}
	for i := len(seen) - 1; i >= 0; i-- {
		h.recent = append(h.recent, seen[i])
	}
}

// record notes how a job that expected a webhook ended.
func (h *webhookHealth) record(via job.Via) {
	if via == "" || via == job.ViaImmediate {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recent = append(h.recent, via == job.ViaWebhook)
	if len(h.recent) > healthWindow {
		h.recent = h.recent[len(h.recent)-healthWindow:]
	}
}

// verdict is arriving's answer alone (it changes as jobs end).
func (h *webhookHealth) verdict() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ok, _ := h.judgeLocked()
	return ok
}

// arriving says whether webhooks should be waited for, with the reason,
// and whether that verdict is news (for a --debug line).
func (h *webhookHealth) arriving() (ok bool, why string, news bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ok, why = h.judgeLocked()
	verdict := fmt.Sprint(ok)
	news = verdict != h.said
	h.said = verdict
	return ok, why, news
}

func (h *webhookHealth) judgeLocked() (ok bool, why string) {
	by := 0
	for _, w := range h.recent {
		if w {
			by++
		}
	}
	n := len(h.recent)
	switch {
	case n < healthMin:
		ok, why = true, "expecting webhooks (too few recent jobs to judge)"
	case 2*by >= n:
		ok, why = true, fmt.Sprintf("webhooks arrive: %d of the last %d jobs that expected one ended by it; keeping the zero-fetch path", by, n)
	default:
		why = fmt.Sprintf("webhooks are not arriving: %d of the last %d jobs that expected one ended by it; polling on the eta without waiting for them", by, n)
	}
	return ok, why
}
