package webhook

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// How rejections are reported: anyone who finds the URL can send requests
// without the token, as many and as large as they like, so what is kept of
// them is bounded whatever they send.
const (
	// reportEvery is the report window: after a report, the next one
	// waits this long, and what arrives meanwhile is reported together.
	reportEvery = time.Second
	// maxRejectDetail is how many rejections a window reports one by one;
	// the rest are only counted, by status ([RejectionSummary]).
	maxRejectDetail = 10
	// MaxShownPath is how much of a rejected request's path is kept (in
	// bytes): a 60 KB path is reported by its first 200 bytes and its size.
	MaxShownPath = 200
	// maxShownMethod is the same for the method, which is only a token.
	maxShownMethod = 24
)

// RejectionSummary sums up rejected requests that were not reported one
// by one: past a window's detail bound, and every 503 — a delivery refused
// because mlab's queues were full (the sender may retry it), which is
// never reported singly.
type RejectionSummary struct {
	Busy     int         // 503s: deliveries refused while mlab was busy
	ByStatus map[int]int // the others, by status
}

// Others is how many rejections besides the 503s the summary counts.
func (s RejectionSummary) Others() int {
	n := 0
	for _, c := range s.ByStatus {
		n += c
	}
	return n
}

// Statuses lists the others by status, lowest first: "404: 19990, 413: 2".
func (s RejectionSummary) Statuses() string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(s.ByStatus)) {
		parts = append(parts, fmt.Sprintf("%d: %d", code, s.ByStatus[code]))
	}
	return strings.Join(parts, ", ")
}

func (s RejectionSummary) empty() bool { return s.Busy == 0 && len(s.ByStatus) == 0 }

// rejections collects the listener's rejections between reports. add never
// blocks and keeps at most maxRejectDetail rejections (their path and
// method clipped); the rest are counted.
type rejections struct {
	wake chan struct{} // a rejection is waiting to be reported

	mu          sync.Mutex
	detail      []Rejection
	sum         RejectionSummary
	total, busy int // over the whole run
}

func newRejections() *rejections { return &rejections{wake: make(chan struct{}, 1)} }

// add takes one rejection (receiver.Options.OnReject: called by the HTTP
// handler, so it only counts or copies a few hundred bytes).
func (r *rejections) add(rej Rejection) {
	r.mu.Lock()
	r.total++
	switch {
	case rej.Status == http.StatusServiceUnavailable:
		r.busy++
		r.sum.Busy++
	case len(r.detail) < maxRejectDetail:
		rej.Path = Clip(rej.Path, MaxShownPath)
		rej.Method = Clip(rej.Method, maxShownMethod)
		r.detail = append(r.detail, rej)
	default:
		if r.sum.ByStatus == nil {
			r.sum.ByStatus = make(map[int]int)
		}
		r.sum.ByStatus[rej.Status]++
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// take returns what is waiting to be reported and starts afresh.
func (r *rejections) take() ([]Rejection, RejectionSummary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, s := r.detail, r.sum
	r.detail, r.sum = nil, RejectionSummary{}
	return d, s
}

// counts returns the run's totals: all rejections, and the 503s.
func (r *rejections) counts() (total, busy int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, r.busy
}

// report tells obs about the rejections as they come, one report per
// window at most, until stop is closed; then it reports what is left.
func (r *rejections) report(obs Observer, stop <-chan struct{}) {
	window := time.NewTimer(0)
	defer window.Stop()
	for {
		select {
		case <-stop:
			r.flush(obs)
			return
		case <-r.wake:
		}
		r.flush(obs)
		window.Reset(reportEvery)
		select {
		case <-stop:
			r.flush(obs)
			return
		case <-window.C:
		}
	}
}

func (r *rejections) flush(obs Observer) {
	detail, sum := r.take()
	for _, rej := range detail {
		obs.Rejected(rej)
	}
	if !sum.empty() {
		obs.RejectedMany(sum)
	}
}

// Clip shortens s to at most n bytes, cut at a character boundary, and
// says how long it was: "/aaaa… (60000 bytes)". The result never shares
// memory with s (a path may be a slice of a 60 KB request line), so
// keeping it does not keep s.
func Clip(s string, n int) string {
	if len(s) <= n {
		return strings.Clone(s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}
