package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeAPI answers fetches in memory (no socket, so the fake clock runs):
// "processing" until done, then "success"; it records when each fetch came.
type fakeAPI struct {
	start time.Time
	done  time.Duration
	mu    sync.Mutex
	at    []time.Duration
}

func (f *fakeAPI) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	now := time.Since(f.start)
	f.at = append(f.at, now)
	f.mu.Unlock()
	status := "processing"
	if now >= f.done {
		status = "success"
	}
	body := fmt.Sprintf(`{"status":%q,"id":1}`, status)
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}, Request: req}, nil
}

// TestReferenceSchedule checks the reference poller against the official
// CLI's documented wait: fetches at 1, 3, 7, 15, 25, 35 s after the submit
// answer, stopping at the first success; its lag is that fetch's time
// minus the job's done time.
func TestReferenceSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		api := &fakeAPI{start: start, done: 33 * time.Second}
		r := &refSide{side: side{lags: map[string]time.Duration{}}, fetchN: map[string]int{}}
		doneAt := func(string) (time.Time, bool) { return start.Add(api.done), true }
		r.wait(context.Background(), &http.Client{Transport: api}, "http://sandbox", "1", doneAt)

		want := []time.Duration{1, 3, 7, 15, 25, 35}
		for i := range want {
			want[i] *= time.Second
		}
		if !slices.Equal(api.at, want) {
			t.Errorf("fetches at %v, want %v", api.at, want)
		}
		if got := r.fetches("1"); got != len(want) {
			t.Errorf("fetches counted %d, want %d", got, len(want))
		}
		if got := r.lags["1"]; got != 2*time.Second {
			t.Errorf("lag %v, want 2s (done at 33 s, seen at 35 s)", got)
		}
		if len(r.problems) > 0 {
			t.Errorf("problems: %v", r.problems)
		}
	})
}

// TestReferenceTimeout checks that the poller gives up when the run's
// bound passes, and says so.
func TestReferenceTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{start: time.Now(), done: time.Hour}
		r := &refSide{side: side{lags: map[string]time.Duration{}}, fetchN: map[string]int{}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.wait(ctx, &http.Client{Transport: api}, "http://sandbox", "1", func(string) (time.Time, bool) { return time.Time{}, false })
		if len(api.at) != 3 { // 1, 3, 7 s; the sleep to 15 s is cut short
			t.Errorf("fetches at %v, want 3 before the 10 s bound", api.at)
		}
		if len(r.lags) != 0 || len(r.problems) != 1 || !strings.Contains(r.problems[0], "timed out") {
			t.Errorf("lags %v, problems %q: want one timeout problem", r.lags, r.problems)
		}
	})
}

func TestSummarize(t *testing.T) {
	lags := map[string]time.Duration{}
	for i := 1; i <= 10; i++ {
		lags[fmt.Sprint(i)] = time.Duration(i) * time.Second
	}
	s := summarize(lags)
	if s.n != 10 || s.mean != 5500*time.Millisecond || s.p90 != 9*time.Second || s.max != 10*time.Second {
		t.Errorf("summarize(1..10 s) = %+v, want n 10, mean 5.5s, p90 9s, max 10s", s)
	}
	if s := summarize(map[string]time.Duration{"a": time.Second}); s.p90 != time.Second || s.max != time.Second {
		t.Errorf("summarize(one) = %+v", s)
	}
	if s := summarize(nil); s.n != 0 || s.String() != "no job ended" {
		t.Errorf("summarize(nil) = %+v %q", s, s)
	}
}

func TestDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3300 * time.Microsecond:  "3.3 ms",
		544 * time.Millisecond:   "544 ms",
		6049 * time.Millisecond:  "6.0 s",
		14400 * time.Millisecond: "14.4 s",
	} {
		if got := dur(d); got != want {
			t.Errorf("dur(%v) = %q, want %q", d, got, want)
		}
	}
	if got := secs(800 * time.Millisecond); got != "0.8 s" {
		t.Errorf("secs(800ms) = %q", got)
	}
	if got := secs(38 * time.Second); got != "38 s" {
		t.Errorf("secs(38s) = %q", got)
	}
}
