package job

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mlabcli/mlab/internal/api"
)

const (
	processing = `{"status":"processing","messege":"try again later.","output":""}`
	success    = `{"status":"success","id":7,"output":["https://cdn.test/7-0.png"]}`
	failed     = `{"status":"failed","id":"","message":"Failed, Try Again","output":""}`
	futureURL  = "https://cdn.test/7-0.png"
)

func decode(t *testing.T, body string) *api.Response {
	t.Helper()
	r, err := api.Decode([]byte(body))
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return r
}

// fakeAPI answers fetches as if the job finished at doneAt (fake time).
type fakeAPI struct {
	t      *testing.T
	mu     sync.Mutex
	start  time.Time
	doneAt time.Duration
	final  string
	calls  []time.Duration
	errs   []error // returned (in order) before answering normally
}

func (f *fakeAPI) fetch(ctx context.Context) (*api.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	el := time.Since(f.start)
	f.calls = append(f.calls, el)
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	if el >= f.doneAt {
		return decode(f.t, f.final), nil
	}
	return decode(f.t, processing), nil
}

func deliverAt(wg *sync.WaitGroup, ch chan<- Event, d time.Duration, body string) {
	wg.Go(func() {
		time.Sleep(d)
		ch <- Event{Body: []byte(body), ReceivedAt: time.Now()}
	})
}

func TestWait(t *testing.T) {
	webhookSuccess := `{"status":"success","id":7,"track_id":"tr1","output":["` + futureURL + `"]}`
	cases := []struct {
		name       string
		eta        time.Duration
		doneAt     time.Duration
		final      string
		webhook    bool
		deliveries []struct {
			at   time.Duration
			body string
		}
		future      []string
		timeout     time.Duration
		wantVia     Via
		wantErr     error
		wantFailed  bool
		wantFetches int
		wantElapsed time.Duration
	}{
		{
			name: "webhook matching future_links needs no fetch", eta: 5 * time.Second, doneAt: 4 * time.Second, final: success, webhook: true,
			deliveries: []struct {
				at   time.Duration
				body string
			}{{4 * time.Second, webhookSuccess}},
			future: []string{futureURL}, wantVia: ViaWebhook, wantFetches: 0, wantElapsed: 4 * time.Second,
		},
		{
			name: "webhook with unknown URLs is confirmed by one fetch", eta: 5 * time.Second, doneAt: 4 * time.Second, final: success, webhook: true,
			deliveries: []struct {
				at   time.Duration
				body string
			}{{4 * time.Second, webhookSuccess}},
			wantVia: ViaWebhook, wantFetches: 1, wantElapsed: 4 * time.Second,
		},
		{
			name: "no webhook: fetches across the eta window, within the official budget", eta: 3 * time.Second, doneAt: 6 * time.Second, final: success,
			// wanted at 2.55s, 3s, 3.45s…; the official CLI's third fetch is at 7s
			wantVia: ViaPoll, wantFetches: 3, wantElapsed: 7 * time.Second,
		},
		{
			name: "webhook expected but lost: first poll waits the grace", eta: 5 * time.Second, doneAt: 5 * time.Second, final: success, webhook: true,
			// grace = 3s + eta/5 = 4s: first poll at 9s
			wantVia: ViaPoll, wantFetches: 1, wantElapsed: 9 * time.Second,
		},
		{
			name: "duplicate webhooks cost one confirmation", eta: 20 * time.Second, doneAt: 2 * time.Second, final: success, webhook: true,
			deliveries: []struct {
				at   time.Duration
				body string
			}{{2 * time.Second, webhookSuccess}, {2*time.Second + time.Millisecond, webhookSuccess}, {3 * time.Second, webhookSuccess}},
			wantVia: ViaWebhook, wantFetches: 1, wantElapsed: 2 * time.Second,
		},
		{
			name: "webhook for another track_id is ignored", eta: 2 * time.Second, doneAt: 2 * time.Second, final: success, webhook: true,
			deliveries: []struct {
				at   time.Duration
				body string
			}{{time.Second, `{"status":"success","id":9,"track_id":"other","output":["` + futureURL + `"]}`}},
			future: []string{futureURL},
			// ignored, so the poll at eta+grace (2+3.4=5.4s) finishes it
			wantVia: ViaPoll, wantFetches: 1, wantElapsed: 5400 * time.Millisecond,
		},
		{
			name: "webhook claiming success too early: keep waiting", eta: 10 * time.Second, doneAt: 5 * time.Second, final: success, webhook: true,
			deliveries: []struct {
				at   time.Duration
				body string
			}{{time.Second, webhookSuccess}},
			// confirm at 1s says processing; re-check 2s later (3s), then
			// 2s later, which the budget puts at the official 7s
			wantVia: ViaPoll, wantFetches: 3, wantElapsed: 7 * time.Second,
		},
		{
			name: "processing webhook is only a hint", eta: time.Second, doneAt: time.Second, final: success, webhook: true,
			deliveries: []struct {
				at   time.Duration
				body string
			}{{500 * time.Millisecond, `{"status":"processing","id":7}`}},
			wantVia: ViaPoll, wantFetches: 1, wantElapsed: 4200 * time.Millisecond,
		},
		{
			name: "garbage webhook is ignored", eta: time.Second, doneAt: time.Second, final: success, webhook: true,
			deliveries: []struct {
				at   time.Duration
				body string
			}{{500 * time.Millisecond, `[1,2,3]`}},
			wantVia: ViaPoll, wantFetches: 1, wantElapsed: 4200 * time.Millisecond,
		},
		{
			name: "failed webhook confirmed by fetch", eta: 10 * time.Second, doneAt: 2 * time.Second, final: failed, webhook: true,
			deliveries: []struct {
				at   time.Duration
				body string
			}{{2 * time.Second, `{"status":"failed","id":7,"message":"out of memory","track_id":"tr1"}`}},
			wantVia: ViaWebhook, wantFailed: true, wantFetches: 1, wantElapsed: 2 * time.Second,
		},
		{
			name: "failed by poll", eta: 2 * time.Second, doneAt: time.Second, final: failed,
			// the window's first fetch: 0.85 × eta
			wantVia: ViaPoll, wantFailed: true, wantFetches: 1, wantElapsed: 1700 * time.Millisecond,
		},
		{
			name: "timeout", eta: 2 * time.Second, doneAt: time.Hour, final: success, timeout: 2900 * time.Millisecond,
			wantErr: ErrTimeout, wantFetches: 1, wantElapsed: 2900 * time.Millisecond,
		},
		{
			name: "eta zero polls at the official CLI's first second", eta: 0, doneAt: 0, final: success,
			wantVia: ViaPoll, wantFetches: 1, wantElapsed: time.Second,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAPI{t: t, start: time.Now(), doneAt: c.doneAt, final: c.final}
				p := Params{ID: "7", TrackID: "tr1", ETA: c.eta, FutureLinks: c.future, Fetch: f.fetch, Timeout: c.timeout}
				var wg sync.WaitGroup
				defer wg.Wait() // late deliveries land in the buffer
				if c.webhook {
					ch := make(chan Event, 8)
					for _, d := range c.deliveries {
						deliverAt(&wg, ch, d.at, d.body)
					}
					p.Events = ch
				}
				start := time.Now()
				res, err := Wait(context.Background(), p)
				elapsed := time.Since(start)
				if c.wantErr != nil {
					if !errors.Is(err, c.wantErr) {
						t.Fatalf("err = %v, want %v", err, c.wantErr)
					}
				} else if c.wantFailed {
					var fe *FailedError
					if !errors.As(err, &fe) {
						t.Fatalf("err = %v, want *FailedError", err)
					}
					if fe.Response.Message == "" {
						t.Fatal("failure has no message")
					}
				} else if err != nil {
					t.Fatalf("err = %v", err)
				}
				if c.wantErr == nil {
					if res == nil || res.Via != c.wantVia {
						t.Fatalf("result %+v, want via %s", res, c.wantVia)
					}
					if res.Fetches != c.wantFetches {
						t.Fatalf("result fetches %d, want %d", res.Fetches, c.wantFetches)
					}
				}
				if len(f.calls) != c.wantFetches {
					t.Fatalf("%d fetches at %v, want %d", len(f.calls), f.calls, c.wantFetches)
				}
				if elapsed != c.wantElapsed {
					t.Fatalf("finished after %v, want %v (fetches at %v)", elapsed, c.wantElapsed, f.calls)
				}
			})
		})
	}
}

func TestWaitCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAPI{t: t, start: time.Now(), doneAt: time.Hour, final: success}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(7 * time.Second); cancel() }()
		_, err := Wait(ctx, Params{ID: "7", ETA: time.Second, Fetch: f.fetch, Timeout: time.Minute})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled (not a timeout)", err)
		}
	})
}

func TestWaitFetchErrors(t *testing.T) {
	transient := &api.Error{Op: "fetch 7", Kind: api.KindServer, HTTPStatus: 502}
	t.Run("transient errors are retried", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeAPI{t: t, start: time.Now(), doneAt: 0, final: success, errs: []error{transient, transient}}
			res, err := Wait(context.Background(), Params{ID: "7", ETA: time.Second, Fetch: f.fetch})
			if err != nil || res.Via != ViaPoll || res.Fetches != 3 {
				t.Fatalf("res %+v err %v, want success after 3 fetches", res, err)
			}
		})
	})
	t.Run("persistent errors end the wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeAPI{t: t, start: time.Now(), doneAt: 0, final: success, errs: []error{transient, transient, transient, transient, transient}}
			_, err := Wait(context.Background(), Params{ID: "7", ETA: time.Second, Fetch: f.fetch})
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Kind != api.KindServer {
				t.Fatalf("err = %v, want the api error", err)
			}
		})
	})
	t.Run("auth errors end the wait at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			auth := &api.Error{Op: "fetch 7", Kind: api.KindAuth, HTTPStatus: 401}
			f := &fakeAPI{t: t, start: time.Now(), doneAt: 0, final: success, errs: []error{auth}}
			_, err := Wait(context.Background(), Params{ID: "7", ETA: time.Second, Fetch: f.fetch})
			if !errors.Is(err, auth) || len(f.calls) != 1 {
				t.Fatalf("err = %v after %d fetches, want the auth error after 1", err, len(f.calls))
			}
		})
	})
}

func TestWaitReportsProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAPI{t: t, start: time.Now(), doneAt: 3 * time.Second, final: success}
		var phases []string
		_, err := Wait(context.Background(), Params{ID: "7", ETA: 2 * time.Second, Fetch: f.fetch,
			OnProgress: func(p Progress) { phases = append(phases, p.Phase) }})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"waiting", "polling", "polling"}
		if len(phases) != len(want) {
			t.Fatalf("phases %v, want %v", phases, want)
		}
		for i := range want {
			if phases[i] != want[i] {
				t.Fatalf("phases %v, want %v", phases, want)
			}
		}
	})
}

// Training webhooks report stages (hints) and the model_ready one ends the
// wait after one confirming fetch.
func TestWaitTrainingStages(t *testing.T) {
	ep, _ := api.Lookup("lora_fine_tune")
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		defer wg.Wait()
		ch := make(chan Event, 8)
		for i, st := range []string{"deploying_gpu", "training_started", "model_ready"} {
			deliverAt(&wg, ch, time.Duration(i+1)*time.Minute, `{"status":"success","training_status":"`+st+`","logs":"...","model_id":"F5jvdzGnYi"}`)
		}
		fetches := 0
		var stages []string
		res, err := Wait(context.Background(), Params{
			ID: "F5jvdzGnYi", ETA: 0, Events: ch,
			Decode: func(b []byte) (*api.Response, error) { return api.DecodeFor(ep, b) },
			Fetch: func(ctx context.Context) (*api.Response, error) {
				fetches++
				return api.DecodeFor(ep, []byte(`{"status":"success","messege":"model_ready","data":"logs"}`))
			},
			PollInterval: time.Hour, // the webhooks decide; polls would only add noise
			Grace:        time.Hour,
			OnProgress: func(p Progress) {
				if p.Stage != "" && (len(stages) == 0 || stages[len(stages)-1] != p.Stage) {
					stages = append(stages, p.Stage)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Via != ViaWebhook || res.Response.State() != api.StateSuccess || fetches != 1 {
			t.Fatalf("via %s state %v fetches %d", res.Via, res.Response.State(), fetches)
		}
		if len(stages) < 2 || stages[0] != "deploying_gpu" || stages[1] != "training_started" {
			t.Fatalf("stages reported %v", stages)
		}
	})
}

// TestWaitKeepsNoBodies: a token holder sending endless distinct bodies
// must not grow the wait (issue 13: every body was kept for dedupe).
func TestWaitKeepsNoBodies(t *testing.T) {
	f := &fakeAPI{t: t, start: time.Now(), doneAt: time.Hour, final: success}
	events := make(chan Event)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Wait(ctx, Params{ID: "7", TrackID: "tr1", ETA: time.Hour, Events: events, Fetch: f.fetch, Decode: api.Decode, Timeout: time.Hour})
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n, size = 2000, 64 << 10
	for i := range n {
		body := make([]byte, size)
		copy(body, fmt.Sprintf(`{"status":"processing","id":7,"track_id":"tr1","n":%d,"pad":"`, i))
		for j := 60; j < size-2; j++ {
			body[j] = 'x'
		}
		copy(body[size-2:], `"}`)
		events <- Event{Body: body, ReceivedAt: time.Now()}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	cancel()
	<-done
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 32<<20 {
		t.Fatalf("the wait kept %d MiB after %d MiB of distinct deliveries", grew>>20, n*size>>20)
	}
}

// TestWaitTrustRules pins the two rules a review's mutants got past: a
// webhook is trusted without a fetch only when ALL its URLs are our
// future_links and it has outputs at all.
func TestWaitTrustRules(t *testing.T) {
	cases := []struct {
		name, body  string
		wantFetches int
	}{
		{"all outputs are future links", `{"status":"success","id":7,"track_id":"tr1","output":["` + futureURL + `"]}`, 0},
		{"one future link and one foreign URL", `{"status":"success","id":7,"track_id":"tr1","output":["` + futureURL + `","https://evil.test/x.png"]}`, 1},
		{"success with no outputs", `{"status":"success","id":7,"track_id":"tr1","output":[]}`, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAPI{t: t, start: time.Now(), doneAt: 0, final: success}
				events := make(chan Event, 1)
				events <- Event{Body: []byte(c.body), ReceivedAt: time.Now()}
				res, err := Wait(context.Background(), Params{ID: "7", TrackID: "tr1", ETA: time.Minute, FutureLinks: []string{futureURL},
					Events: events, Fetch: f.fetch, Decode: api.Decode, Timeout: time.Hour})
				if err != nil || res.Via != ViaWebhook || res.Fetches != c.wantFetches {
					t.Fatalf("Wait = %+v, %v; want via webhook with %d fetches", res, err, c.wantFetches)
				}
			})
		})
	}
}
