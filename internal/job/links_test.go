package job

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/links"
)

// fakeCDN answers probes of a job's future links: missing until readyAt
// (fake time since start), or never when never is set. throttle answers the
// first probes with a 429.
type fakeCDN struct {
	mu       sync.Mutex
	start    time.Time
	readyAt  time.Duration
	never    bool
	throttle int
	retry    time.Duration
	probes   []time.Duration
}

func (c *fakeCDN) probe(ctx context.Context, link string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := time.Since(c.start)
	c.probes = append(c.probes, el)
	if c.throttle > 0 {
		c.throttle--
		return false, &links.ThrottledError{Status: 429, RetryAfter: c.retry}
	}
	return !c.never && el >= c.readyAt, nil
}

func (c *fakeCDN) times() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.probes)
}

// Without a webhook, a job with future links is known done by its links
// within a dense probe gap of its end, for no fetch.
func TestWaitViaLinks(t *testing.T) {
	for _, c := range []struct {
		eta, done time.Duration
	}{
		{2 * time.Second, 2 * time.Second},
		{10 * time.Second, 7700 * time.Millisecond},  // eta 30% high
		{10 * time.Second, 14300 * time.Millisecond}, // eta 30% low
		{60 * time.Second, 46 * time.Second},
		{60 * time.Second, 85 * time.Second},
		{0, 3500 * time.Millisecond}, // no eta at all
	} {
		t.Run(fmt.Sprintf("eta %s done %s", c.eta, c.done), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAPI{t: t, start: time.Now(), doneAt: c.done, final: success}
				cdn := &fakeCDN{start: time.Now(), readyAt: c.done}
				res, err := Wait(context.Background(), Params{ID: "7", TrackID: "tr1", ETA: c.eta, FutureLinks: []string{futureURL},
					Fetch: f.fetch, Probe: cdn.probe, Timeout: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				lag := res.Elapsed - c.done
				if res.Via != ViaLinks || lag < 0 || lag > 600*time.Millisecond {
					t.Fatalf("via %s after %s (lag %s, probes at %v, fetches at %v); want via links within 600ms of %s",
						res.Via, res.Elapsed, lag, cdn.times(), f.calls, c.done)
				}
				if !slices.Equal(res.Response.Output, []string{futureURL}) || res.Response.State() != api.StateSuccess {
					t.Fatalf("response %+v, want success with the future links", res.Response)
				}
				// The fetches stay within the official CLI's count.
				checkFetchBudget(t, f.calls)
				if c.eta > 0 && len(f.calls) != 0 {
					t.Fatalf("fetched at %v: the links made every fetch needless", f.calls)
				}
			})
		})
	}
}

// The late-webhook case: the job is done at 0.8 s, its webhook
// comes 2.4 s later; the links end the wait within a second of the end.
func TestWaitLateWebhookEndsByLinks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAPI{t: t, start: time.Now(), doneAt: 800 * time.Millisecond, final: success}
		cdn := &fakeCDN{start: time.Now(), readyAt: 800 * time.Millisecond}
		var wg sync.WaitGroup
		defer wg.Wait()
		events := make(chan Event, 1)
		deliverAt(&wg, events, 3200*time.Millisecond, `{"status":"success","id":7,"track_id":"tr1","output":["`+futureURL+`"]}`)
		res, err := Wait(context.Background(), Params{ID: "7", TrackID: "tr1", ETA: 800 * time.Millisecond, FutureLinks: []string{futureURL},
			Events: events, Fetch: f.fetch, Probe: cdn.probe})
		if err != nil {
			t.Fatal(err)
		}
		if res.Via != ViaLinks || res.Elapsed > 1800*time.Millisecond || res.Fetches != 0 {
			t.Fatalf("via %s after %s with %d fetches; want links by 1.8s, no fetch", res.Via, res.Elapsed, res.Fetches)
		}
	})
}

// A failed job's links never appear: the fetch placed just past the eta
// window reports it.
func TestWaitFailedJobWithLinks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAPI{t: t, start: time.Now(), doneAt: 5 * time.Second, final: failed}
		cdn := &fakeCDN{start: time.Now(), never: true}
		res, err := Wait(context.Background(), Params{ID: "7", ETA: 10 * time.Second, FutureLinks: []string{futureURL},
			Fetch: f.fetch, Probe: cdn.probe, Timeout: time.Hour})
		var fe *FailedError
		if !errors.As(err, &fe) || res == nil || res.Via != ViaPoll {
			t.Fatalf("Wait = %+v, %v; want failed via poll", res, err)
		}
		// 1.5 × eta + 1 s = 16 s; the official CLI's fourth fetch (15 s) or
		// fifth (25 s) would be the first to see it.
		if res.Elapsed != 16*time.Second || len(f.calls) != 1 {
			t.Fatalf("failed after %s with fetches at %v; want one fetch at 16s", res.Elapsed, f.calls)
		}
	})
}

// With links, a webhook that is expected does not push the failure's
// fetch past eta + grace: it comes just past the window all the same.
func TestWaitFailedJobWithLinksAndWebhook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAPI{t: t, start: time.Now(), doneAt: time.Second, final: failed}
		cdn := &fakeCDN{start: time.Now(), never: true}
		events := make(chan Event) // the failure webhook is lost
		res, err := Wait(context.Background(), Params{ID: "7", ETA: 2 * time.Second, FutureLinks: []string{futureURL},
			Events: events, Fetch: f.fetch, Probe: cdn.probe, Timeout: time.Hour})
		var fe *FailedError
		// 1.5 × 2 s + 1 s = 4 s, not eta + grace (2 + 3.4 s)
		if !errors.As(err, &fe) || res.Elapsed != 4*time.Second || len(f.calls) != 1 {
			t.Fatalf("Wait = %+v, %v, fetches at %v; want failed by one fetch at 4s", res, err, f.calls)
		}
	})
}

// A job without future links completes by fetch, even with a prober.
func TestWaitWithoutLinksCompletesByFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAPI{t: t, start: time.Now(), doneAt: 4 * time.Second, final: success}
		cdn := &fakeCDN{start: time.Now()}
		res, err := Wait(context.Background(), Params{ID: "7", ETA: 4 * time.Second, Fetch: f.fetch, Probe: cdn.probe})
		if err != nil || res.Via != ViaPoll {
			t.Fatalf("Wait = %+v, %v; want via poll", res, err)
		}
		if len(cdn.times()) != 0 {
			t.Fatalf("probed %v without links", cdn.times())
		}
		checkFetchBudget(t, f.calls)
	})
}

// The first terminal signal wins; a fetch that still says processing does
// not undo links that answered, and links that never answer do not hold
// back a fetch that says failed.
func TestWaitLinksFetchDisagreement(t *testing.T) {
	t.Run("links ready, API still processing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeAPI{t: t, start: time.Now(), doneAt: time.Hour, final: success} // the API lags
			cdn := &fakeCDN{start: time.Now(), readyAt: 5 * time.Second}
			res, err := Wait(context.Background(), Params{ID: "7", ETA: 4 * time.Second, FutureLinks: []string{futureURL},
				Fetch: f.fetch, Probe: cdn.probe, NoWebhookGrace: true})
			if err != nil || res.Via != ViaLinks {
				t.Fatalf("Wait = %+v, %v; want via links", res, err)
			}
		})
	})
	t.Run("API says failed, links absent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeAPI{t: t, start: time.Now(), doneAt: time.Second, final: failed}
			cdn := &fakeCDN{start: time.Now(), never: true}
			_, err := Wait(context.Background(), Params{ID: "7", ETA: time.Second, FutureLinks: []string{futureURL},
				Fetch: f.fetch, Probe: cdn.probe})
			var fe *FailedError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FailedError", err)
			}
		})
	})
	t.Run("a webhook hint is checked by the links before any fetch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeAPI{t: t, start: time.Now(), doneAt: 2 * time.Second, final: success}
			cdn := &fakeCDN{start: time.Now(), readyAt: 2 * time.Second}
			events := make(chan Event, 1)
			var wg sync.WaitGroup
			defer wg.Wait()
			// proxy links, not the future links: a hint
			deliverAt(&wg, events, 2*time.Second, `{"status":"success","id":7,"output":["https://proxy.test/7-0.png"]}`)
			res, err := Wait(context.Background(), Params{ID: "7", ETA: 20 * time.Second, FutureLinks: []string{futureURL},
				Events: events, Fetch: f.fetch, Probe: cdn.probe})
			if err != nil || res.Via != ViaLinks || res.Elapsed != 2*time.Second || len(f.calls) != 0 {
				t.Fatalf("Wait = %+v, %v after fetches %v; want via links at 2s, no fetch", res, err, f.calls)
			}
		})
	})
}

// A CDN that throttles (429) backs every probe off but does not break the
// wait.
func TestWaitCDNThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAPI{t: t, start: time.Now(), doneAt: 3 * time.Second, final: success}
		cdn := &fakeCDN{start: time.Now(), readyAt: 3 * time.Second, throttle: 3, retry: 2 * time.Second}
		budget := links.NewBudget(20)
		res, err := Wait(context.Background(), Params{ID: "7", ETA: 3 * time.Second, FutureLinks: []string{futureURL},
			Fetch: f.fetch, Probe: cdn.probe, Budget: budget, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		probes := cdn.times()
		for i := 1; i < min(len(probes), 4); i++ {
			if gap := probes[i] - probes[i-1]; gap < 2*time.Second {
				t.Fatalf("probes at %v: %s after a 429 with Retry-After 2s", probes, gap)
			}
		}
		if res.Via != ViaLinks && res.Via != ViaPoll {
			t.Fatalf("via %s", res.Via)
		}
		if st := budget.Stats(); st.Throttle != 3 {
			t.Fatalf("budget stats %+v, want 3 throttles", st)
		}
	})
}

// Cancellation and the timeout end a wait at once with probes and a fetch
// in flight, leaving nothing behind (synctest fails on a leaked goroutine).
func TestWaitStopsWithProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAPI{t: t, start: time.Now(), doneAt: time.Hour, final: success}
		cdn := &fakeCDN{start: time.Now(), never: true}
		_, err := Wait(context.Background(), Params{ID: "7", ETA: 5 * time.Second, FutureLinks: []string{futureURL},
			Fetch: f.fetch, Probe: cdn.probe, Timeout: 9 * time.Second})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want timeout", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(3*time.Second, cancel)
		_, err = Wait(ctx, Params{ID: "7", ETA: 5 * time.Second, FutureLinks: []string{futureURL},
			Fetch: f.fetch, Probe: cdn.probe, Timeout: time.Minute})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want canceled", err)
		}
	})
}

// checkFetchBudget fails when the k-th fetch came before the official
// CLI's k-th.
func checkFetchBudget(t *testing.T, calls []time.Duration) {
	t.Helper()
	for i, at := range calls {
		if at < OfficialFetchAt(i+1) {
			t.Fatalf("fetch %d at %s, before the official CLI's (%s): fetches at %v", i+1, at, OfficialFetchAt(i+1), calls)
		}
	}
}

// TestFetchBudgetNeverExceeded runs many waits (etas, ends, failures,
// webhooks that lie, errors) and checks that no fetch ever comes before
// the official CLI's count allows it.
func TestFetchBudgetNeverExceeded(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 14))
	transient := &api.Error{Op: "fetch 7", Kind: api.KindServer, HTTPStatus: 502}
	for i := range 200 {
		eta := time.Duration(r.IntN(90)) * time.Second / 2
		done := time.Duration(float64(eta)*(0.6+r.Float64())) + time.Duration(r.IntN(3000))*time.Millisecond
		withLinks, webhook, fail := r.IntN(2) == 0, r.IntN(2) == 0, r.IntN(5) == 0
		nerr := r.IntN(3)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				final := success
				if fail {
					final = failed
				}
				f := &fakeAPI{t: t, start: time.Now(), doneAt: done, final: final}
				for range nerr {
					f.errs = append(f.errs, transient)
				}
				p := Params{ID: "7", TrackID: "tr1", ETA: eta, Fetch: f.fetch, Timeout: 3 * time.Minute}
				if withLinks {
					cdn := &fakeCDN{start: time.Now(), readyAt: done, never: fail}
					p.FutureLinks, p.Probe = []string{futureURL}, cdn.probe
				}
				var wg sync.WaitGroup
				defer wg.Wait()
				if webhook {
					events := make(chan Event, 4)
					// a lying early success webhook with foreign URLs: costs a check
					deliverAt(&wg, events, done/3, `{"status":"success","id":7,"output":["https://proxy.test/x.png"]}`)
					p.Events = events
				}
				_, err := Wait(context.Background(), p)
				var fe *FailedError
				if err != nil && !errors.As(err, &fe) {
					t.Fatalf("eta %s done %s links %v webhook %v: %v", eta, done, withLinks, webhook, err)
				}
				checkFetchBudget(t, f.calls)
			})
		})
	}
}

// Probes of many jobs share one budget: never more than rate in any
// second, and a job is not starved.
func TestProbeBudgetShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const jobs, rate = 100, 20
		budget := links.NewBudget(rate)
		var mu sync.Mutex
		var all []time.Duration
		start := time.Now()
		var wg sync.WaitGroup
		results := make([]*Result, jobs)
		for i := range jobs {
			wg.Go(func() {
				done := time.Duration(1000+20*i) * time.Millisecond // 1 s to 3 s
				f := &fakeAPI{t: t, start: start, doneAt: done, final: success}
				probe := func(ctx context.Context, link string) (bool, error) {
					mu.Lock()
					all = append(all, time.Since(start))
					mu.Unlock()
					return time.Since(start) >= done, nil
				}
				res, err := Wait(context.Background(), Params{ID: fmt.Sprint(i), ETA: time.Second, FutureLinks: []string{futureURL},
					Fetch: f.fetch, Probe: probe, Budget: budget, Timeout: time.Minute})
				if err != nil {
					t.Error(err)
				}
				results[i] = res
			})
		}
		wg.Wait()
		slices.Sort(all)
		for i := range all {
			j := i
			for j < len(all) && all[j]-all[i] < time.Second {
				j++
			}
			if j-i > rate {
				t.Fatalf("%d probes within a second from %s", j-i, all[i])
			}
		}
		var links int
		var lag time.Duration
		for i, r := range results {
			if r != nil && r.Via == ViaLinks {
				links++
			}
			lag += r.Elapsed - time.Duration(1000+20*i)*time.Millisecond
		}
		t.Logf("%d probes for %d jobs; %d ended by links; mean lag %s", len(all), jobs, links, lag/jobs)
		if lag/jobs > time.Second {
			t.Fatalf("mean lag %s for jobs of 1-3 s sharing the budget", lag/jobs)
		}
	})
}

// With webhooks judged absent (NoWebhookGrace), a job that expects one
// is fetched across the eta window like a poll-only job; otherwise its
// first fetch waits the eta plus the grace.
func TestWaitNoWebhookGrace(t *testing.T) {
	for _, c := range []struct {
		noGrace bool
		want    time.Duration
	}{{false, 15 * time.Second}, {true, 8500 * time.Millisecond}} { // grace: 3 s + eta/5
		synctest.Test(t, func(t *testing.T) {
			f := &fakeAPI{t: t, start: time.Now(), doneAt: 8 * time.Second, final: success}
			events := make(chan Event)
			res, err := Wait(context.Background(), Params{ID: "7", ETA: 10 * time.Second, Events: events, Fetch: f.fetch, NoWebhookGrace: c.noGrace})
			if err != nil || res.Via != ViaPoll || res.Elapsed != c.want || len(f.calls) != 1 {
				t.Fatalf("NoWebhookGrace %v: Wait = %+v, %v, fetches at %v; want one fetch at %s", c.noGrace, res, err, f.calls, c.want)
			}
		})
	}
}
