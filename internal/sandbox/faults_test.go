package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The fault knobs of a soak: rates measured over hundreds of jobs with a
// fixed seed, exact replay with the same seed, and the cost of many jobs.
// These tests run in parallel with each other (after the others).

// soakClient is an HTTP client for many concurrent calls to one server.
func soakClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 128, MaxIdleConns: 256}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// doCall POSTs body to url; it is safe in any goroutine (no t.Fatal).
func doCall(c *http.Client, url string, body any) (int, http.Header, []byte, map[string]any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, nil, nil, err
	}
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&m) // nil for HTML bodies
	return resp.StatusCode, resp.Header, raw, m, nil
}

// parallelDo runs fn(i) for i in [0,n) on workers goroutines and returns
// the first error.
func parallelDo(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || first.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

// hookLog is a webhook receiver that records, per job id, when each POST
// arrived.
type hookLog struct {
	mu    sync.Mutex
	at    map[string][]time.Time
	total int
}

func newHookLog(t *testing.T) (*httptest.Server, *hookLog) {
	h := &hookLog{at: map[string][]time.Time{}}
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var body map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		_ = dec.Decode(&body)
		id := fmt.Sprint(body["id"])
		if body["id"] == nil {
			id = fmt.Sprint(body["execution_id"], body["model_id"])
		}
		h.mu.Lock()
		h.at[id] = append(h.at[id], now)
		h.total++
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rs.Close)
	return rs, h
}

func (h *hookLog) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

func (h *hookLog) times(id string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.at[id])
}

// waitUntil polls cond for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// within fails unless got is in [lo, hi].
func within(t *testing.T, what string, got, lo, hi int) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s = %d, want %d..%d", what, got, lo, hi)
	}
}

// submitMany submits n text2img jobs with webhook hook on workers
// goroutines and returns their ids in submit order of the id counter.
func submitMany(t *testing.T, c *http.Client, base string, n, workers int, extra map[string]any) []string {
	t.Helper()
	ids := make([]string, n)
	err := parallelDo(n, workers, func(i int) error {
		code, _, raw, m, err := doCall(c, base+"/api/v6/images/text2img", text2img(extra))
		if err != nil {
			return err
		}
		if code != 200 || m["status"] != "processing" {
			return fmt.Errorf("submit %d: %d %s", i, code, raw)
		}
		ids[i] = fmt.Sprint(m["id"])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// rateRun is what one server did with the webhook rate knobs.
type rateRun struct {
	fates map[string]fate
	done  map[string]time.Time
	hooks map[string]int
	stats Stats
}

func runWebhookRates(t *testing.T, seed int64, n int) rateRun {
	rs, hooks := newHookLog(t)
	opts := Options{
		Delay: 5 * time.Millisecond, DelayMax: 40 * time.Millisecond,
		DropWebhookRate: 0.2, DuplicateWebhookRate: 0.1,
		LateWebhookRate: 0.1, LateWebhookDelay: 400 * time.Millisecond,
		Seed: seed, NoRecord: true,
	}
	s, ts := newSandbox(t, opts)
	ids := submitMany(t, soakClient(t), ts.URL, n, 25, map[string]any{"webhook": rs.URL})
	st := s.Stats()
	want := n - st.WebhooksDropped + st.WebhooksDuplicated
	waitUntil(t, 20*time.Second, fmt.Sprintf("%d webhook POSTs", want), func() bool {
		return hooks.count() >= want && s.Stats().WebhooksSent >= want
	})
	time.Sleep(50 * time.Millisecond) // room for any extra POST to show
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := rateRun{fates: map[string]fate{}, done: map[string]time.Time{}, hooks: map[string]int{}, stats: s.Stats()}
	if got := hooks.count(); got != want || r.stats.WebhooksSent != want || r.stats.WebhookErrors != 0 {
		t.Errorf("%d POSTs arrived, stats %+v; want %d", got, r.stats, want)
	}
	for _, id := range ids {
		s.mu.Lock()
		j := s.jobs[id]
		s.mu.Unlock()
		r.fates[id], r.done[id] = j.fate, j.doneAt
		r.hooks[id] = len(hooks.times(id))
		// Per job: the fate decides what arrived, and when.
		switch times := hooks.times(id); {
		case j.fate.drop:
			if len(times) != 0 {
				t.Errorf("job %s: dropped webhook arrived %d times", id, len(times))
			}
		case j.fate.dup && len(times) != 2, !j.fate.dup && len(times) != 1:
			t.Errorf("job %s (dup %v): %d webhooks", id, j.fate.dup, len(times))
		case j.fate.late:
			for _, at := range times {
				if d := at.Sub(j.doneAt); d < opts.LateWebhookDelay {
					t.Errorf("job %s: late webhook came %v after the job was done, want >= %v", id, d, opts.LateWebhookDelay)
				}
			}
		}
	}
	return r
}

func TestWebhookRatesMeasuredAndReplayed(t *testing.T) {
	t.Parallel()
	const n = 400
	var a, b rateRun
	t.Run("servers", func(t *testing.T) {
		t.Run("a", func(t *testing.T) { t.Parallel(); a = runWebhookRates(t, 42, n) })
		t.Run("b", func(t *testing.T) { t.Parallel(); b = runWebhookRates(t, 42, n) })
	})
	if t.Failed() {
		return
	}
	st := a.stats
	// 400 jobs: 80 dropped expected (sd 8); duplicated and late are
	// counted among the 320 sent (32 each, sd 5.4).
	within(t, "WebhooksDropped", st.WebhooksDropped, 50, 110)
	within(t, "WebhooksDuplicated", st.WebhooksDuplicated, 14, 52)
	within(t, "WebhooksLate", st.WebhooksLate, 14, 52)
	drop, dup, late := 0, 0, 0
	for id, f := range a.fates {
		if f.drop {
			drop++
			continue
		}
		if f.dup {
			dup++
		}
		if f.late {
			late++
		}
		if f.dur < 5*time.Millisecond || f.dur > 40*time.Millisecond {
			t.Errorf("job %s runs %v, want 5ms..40ms", id, f.dur)
		}
	}
	if drop != st.WebhooksDropped || dup != st.WebhooksDuplicated || late != st.WebhooksLate {
		t.Errorf("fates drop/dup/late %d/%d/%d, stats %+v", drop, dup, late, st)
	}

	// Same seed, concurrent submits: the same job ids got the same fates
	// and the same number of webhooks.
	if len(a.fates) != n || len(b.fates) != n {
		t.Fatalf("%d and %d jobs", len(a.fates), len(b.fates))
	}
	for id, f := range a.fates {
		if b.fates[id] != f || b.hooks[id] != a.hooks[id] {
			t.Errorf("job %s: seed 42 gave %+v/%d hooks, then %+v/%d hooks", id, f, a.hooks[id], b.fates[id], b.hooks[id])
		}
	}
	bs := b.stats
	if bs.WebhooksDropped != st.WebhooksDropped || bs.WebhooksDuplicated != st.WebhooksDuplicated || bs.WebhooksLate != st.WebhooksLate || bs.WebhooksSent != st.WebhooksSent {
		t.Errorf("same seed, different counts:\n%+v\n%+v", st, bs)
	}
}

func TestSeedChoosesFates(t *testing.T) {
	t.Parallel()
	opts := Options{Delay: time.Second, DelayMax: 3 * time.Second, DropWebhookRate: 0.2, DuplicateWebhookRate: 0.1, LateWebhookRate: 0.1}
	fates := func(o Options) []fate {
		s := New(o)
		defer s.Close()
		var out []fate
		for i := range 400 {
			out = append(out, s.fateOf(fmt.Sprintf("job %d", firstID+i)))
		}
		return out
	}
	o := opts
	o.Seed = 42
	a, a2 := fates(o), fates(o)
	o.Seed = 43
	b := fates(o)
	if !slices.Equal(a, a2) {
		t.Error("seed 42 twice: different fates")
	}
	if slices.Equal(a, b) {
		t.Error("seeds 42 and 43: same fates")
	}
	// Raising a rate only adds jobs to the fault.
	o.Seed, o.DropWebhookRate = 42, 0.1
	c := fates(o)
	fewer := 0
	for i := range a {
		if c[i].drop {
			fewer++
			if !a[i].drop {
				t.Errorf("job %d dropped at rate 0.1 but not 0.2", i)
			}
		}
		if c[i].dur != a[i].dur || c[i].dup != a[i].dup || c[i].late != a[i].late {
			t.Errorf("job %d: changing the drop rate changed the rest of its fate", i)
		}
	}
	within(t, "dropped at rate 0.1", fewer, 20, 60)
	// Seed 0 is random, and reported.
	s1, s2 := New(Options{}), New(Options{})
	defer s1.Close()
	defer s2.Close()
	if s1.Seed() == 0 || s1.Seed() == s2.Seed() {
		t.Errorf("random seeds %d, %d", s1.Seed(), s2.Seed())
	}
	if s := New(Options{Seed: -7}); s.Seed() != -7 {
		t.Errorf("Seed() = %d, want -7", s.Seed())
	}
	// The boolean knobs are rate 1.
	s := New(Options{DropWebhooks: true, DuplicateWebhooks: true, LateWebhookRate: 1})
	defer s.Close()
	if f := s.fateOf("job 1"); !f.drop || !f.dup || !f.late {
		t.Errorf("fate with the boolean knobs: %+v", f)
	}
	if s.opts.LateWebhookDelay != 10*time.Second {
		t.Errorf("default LateWebhookDelay %v, want 10s", s.opts.LateWebhookDelay)
	}
}

func TestDelayMaxSpread(t *testing.T) {
	t.Parallel()
	const n = 300
	delay, delayMax := 100*time.Millisecond, 300*time.Millisecond
	s, ts := newSandbox(t, Options{Delay: delay, DelayMax: delayMax, Seed: 3, NoRecord: true})
	c := soakClient(t)
	etas := map[string]bool{}
	var mu sync.Mutex
	err := parallelDo(n, 20, func(i int) error {
		_, _, raw, m, err := doCall(c, ts.URL+"/api/v6/images/text2img", text2img(nil))
		if err != nil {
			return err
		}
		mu.Lock()
		etas[fmt.Sprint(m["eta"])] = true
		mu.Unlock()
		if m["status"] != "processing" {
			return fmt.Errorf("submit: %s", raw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(etas) != 1 || !etas["0.1"] {
		t.Errorf("etas %v, want only Delay's 0.1", etas)
	}
	var durs []time.Duration
	var sum time.Duration
	buckets := make([]int, 4)
	s.mu.Lock()
	for _, j := range s.jobs {
		d := j.fate.dur
		durs = append(durs, d)
		sum += d
		if d < delay || d > delayMax {
			t.Errorf("job %s runs %v, want %v..%v", j.idText, d, delay, delayMax)
			continue
		}
		buckets[min(int((d-delay)*4/(delayMax-delay)), 3)]++
		if g := math.Round(d.Seconds()*1000) / 1000; j.generationTime != g {
			t.Errorf("job %s: generationTime %v, runs %v", j.idText, j.generationTime, d)
		}
	}
	s.mu.Unlock()
	slices.Sort(durs)
	if durs[0] > delay+20*time.Millisecond || durs[len(durs)-1] < delayMax-20*time.Millisecond {
		t.Errorf("durations %v..%v do not span %v..%v", durs[0], durs[len(durs)-1], delay, delayMax)
	}
	if mean := sum / time.Duration(len(durs)); mean < 185*time.Millisecond || mean > 215*time.Millisecond {
		t.Errorf("mean duration %v, want about 200ms", mean)
	}
	for i, b := range buckets {
		within(t, fmt.Sprintf("quarter %d", i), b, 50, 100)
	}

	// Through the API: a job is processing until its own duration passes.
	start := time.Now()
	_, _, _, m, err := doCall(c, ts.URL+"/api/v6/images/text2img", text2img(nil))
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(m["id"])
	s.mu.Lock()
	dur := s.jobs[id].fate.dur
	s.mu.Unlock()
	for {
		_, _, raw, f, err := doCall(c, m["fetch_result"].(string), map[string]any{"key": testKey})
		if err != nil {
			t.Fatal(err)
		}
		if f["status"] == "success" {
			if el := time.Since(start); el < dur {
				t.Errorf("job %s done after %v, it runs %v", id, el, dur)
			}
			break
		}
		if f["status"] != "processing" || time.Since(start) > 3*time.Second {
			t.Fatalf("fetch: %s", raw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFetchErrorRate(t *testing.T) {
	t.Parallel()
	const n = 400
	run := func(seed int64) ([]int, Stats, []Request, error) {
		s := New(Options{Delay: -1, FetchErrorRate: 0.25, Seed: seed})
		ts := httptest.NewServer(s)
		defer ts.Close()
		defer s.Close()
		c := &http.Client{}
		_, _, raw, m, err := doCall(c, ts.URL+"/api/v6/images/text2img", text2img(nil))
		if err != nil || m["fetch_result"] == nil {
			return nil, Stats{}, nil, fmt.Errorf("submit: %v %s", err, raw)
		}
		var codes []int
		for range n {
			code, h, raw, body, err := doCall(c, m["fetch_result"].(string), map[string]any{"key": testKey})
			if err != nil {
				return nil, Stats{}, nil, err
			}
			ct := h.Get("Content-Type")
			switch {
			case code == 200:
				if body["status"] != "success" {
					return nil, Stats{}, nil, fmt.Errorf("fetch answered 200 %s", raw)
				}
			case code != 500 && code != 502 && code != 503:
				return nil, Stats{}, nil, fmt.Errorf("fetch answered %d %s", code, raw)
			case strings.HasPrefix(ct, "text/html"):
				if !strings.Contains(string(raw), "<html>") || !strings.Contains(string(raw), fmt.Sprint(code)) {
					return nil, Stats{}, nil, fmt.Errorf("HTML %d body: %s", code, raw)
				}
				code += 1000 // HTML
			case strings.HasPrefix(ct, "application/json"):
				if body["status"] != "error" || body["message"] == "" || body["message"] == nil {
					return nil, Stats{}, nil, fmt.Errorf("JSON %d body: %s", code, raw)
				}
			default:
				return nil, Stats{}, nil, fmt.Errorf("%d with Content-Type %q: %s", code, ct, raw)
			}
			codes = append(codes, code)
		}
		return codes, s.Stats(), s.Requests(), nil
	}
	var a, b, c []int
	var sa Stats
	var reqs []Request
	var errA, errB, errC error
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); a, sa, reqs, errA = run(11) }()
	go func() { defer wg.Done(); b, _, _, errB = run(11) }()
	go func() { defer wg.Done(); c, _, _, errC = run(12) }()
	wg.Wait()
	if errA != nil || errB != nil || errC != nil {
		t.Fatal(errA, errB, errC)
	}
	if !slices.Equal(a, b) {
		t.Error("seed 11 twice: different fetch errors")
	}
	if slices.Equal(a, c) {
		t.Error("seeds 11 and 12: same fetch errors")
	}
	kinds := map[int]int{}
	errs := 0
	for _, code := range a {
		if code != 200 {
			kinds[code]++
			errs++
		}
	}
	within(t, "fetch errors", errs, 70, 130) // 100 expected, sd 8.7
	if sa.FetchErrors != errs || sa.Fetches != n {
		t.Errorf("stats %+v, %d errors seen", sa, errs)
	}
	for _, k := range []int{500, 502, 503, 1500, 1502, 1503} {
		within(t, fmt.Sprintf("answers %d (+1000: HTML)", k), kinds[k], 5, 35)
	}
	recorded := 0
	for _, r := range reqs {
		if r.Status >= 500 {
			recorded++
		}
	}
	if recorded != errs {
		t.Errorf("%d 5xx recorded in Requests, %d seen", recorded, errs)
	}
}

func TestFetchErrorsOnTrainingAndWorkflowStatus(t *testing.T) {
	t.Parallel()
	s, ts := newSandbox(t, Options{Delay: time.Hour, FetchErrorRate: 1})
	a := post(t, ts.URL+"/api/v3/lora_fine_tune", loraBody(nil), nil)
	resp, err := http.Post(ts.URL+"/api/v3/fine_tune_status/"+a.body["training_id"].(string), "application/json", strings.NewReader(`{"key":"k"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x"}, "k")
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/v1/workflows/"+wf1+"/runs/"+intID(t, r.body["execution_id"]), nil)
	req.Header.Set("key", "k")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp.StatusCode < 500 || resp2.StatusCode < 500 {
		t.Errorf("training status %d, workflow status %d, want 5xx", resp.StatusCode, resp2.StatusCode)
	}
	if st := s.Stats(); st.FetchErrors != 2 || st.Fetches != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestRateLimitBurstPattern(t *testing.T) {
	t.Parallel()
	s, ts := newSandbox(t, Options{Delay: time.Hour, RateLimit: 2, RateLimitBurst: 3, RateLimitEvery: 5, RetryAfter: 2 * time.Second})
	var got strings.Builder
	var ids []int64
	for range 22 {
		a := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
		switch a.status {
		case http.StatusTooManyRequests:
			got.WriteByte('R')
			wantKeys(t, "429", a.body, "status", "message", "retry_after")
			if a.body["message"] != msgRateLimit || fmt.Sprint(a.body["retry_after"]) != "2" {
				t.Errorf("429: %s", a.raw)
			}
		case 200:
			got.WriteByte('A')
			n, _ := a.body["id"].(json.Number).Int64()
			ids = append(ids, n)
		default:
			t.Fatalf("submit: %d %s", a.status, a.raw)
		}
	}
	if want := "RR" + "AAAAA" + "RRR" + "AAAAA" + "RRR" + "AAAA"; got.String() != want {
		t.Errorf("pattern\n%s, want\n%s", got.String(), want)
	}
	for i, id := range ids {
		if id != firstID+int64(i) {
			t.Errorf("refused submits used ids: %v", ids)
			break
		}
	}
	if st := s.Stats(); st.Submits != 22 || st.RateLimited != 8 || st.Jobs != 14 {
		t.Errorf("stats %+v", st)
	}

	// Concurrently the count is still exact: 100 submits in cycles of
	// 10 accepted + 5 refused make 70 accepted, 30 refused.
	s2, ts2 := newSandbox(t, Options{Delay: time.Hour, RateLimitBurst: 5, RateLimitEvery: 10, NoRecord: true})
	c := soakClient(t)
	var refused atomic.Int64
	err := parallelDo(100, 20, func(int) error {
		code, _, raw, _, err := doCall(c, ts2.URL+"/api/v6/images/text2img", text2img(nil))
		if code == http.StatusTooManyRequests {
			refused.Add(1)
		} else if err == nil && code != 200 {
			err = fmt.Errorf("submit: %d %s", code, raw)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := s2.Stats(); refused.Load() != 30 || st.RateLimited != 30 || st.Jobs != 70 {
		t.Errorf("%d refused, stats %+v", refused.Load(), st)
	}
}

func TestQueueLimit(t *testing.T) {
	t.Parallel()
	s, ts := newSandbox(t, Options{Delay: time.Second, QueueLimit: 10, RetryAfter: 1500 * time.Millisecond})
	c := soakClient(t)
	var refused, accepted atomic.Int64
	err := parallelDo(15, 15, func(int) error {
		code, _, raw, m, err := doCall(c, ts.URL+"/api/v6/images/text2img", text2img(nil))
		switch {
		case err != nil:
			return err
		case code == http.StatusTooManyRequests:
			refused.Add(1)
			if m["status"] != "error" || m["message"] != "Rate limit exceeded. Maximum 10 queued requests allowed." || fmt.Sprint(m["retry_after"]) != "1.5" {
				return fmt.Errorf("429: %s", raw)
			}
		case code == 200:
			accepted.Add(1)
		default:
			return fmt.Errorf("submit: %d %s", code, raw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if accepted.Load() != 10 || refused.Load() != 5 || st.RateLimited != 5 || st.MaxProcessing != 10 {
		t.Fatalf("%d accepted, %d refused, stats %+v", accepted.Load(), refused.Load(), st)
	}
	if st.Processing != 10 {
		t.Errorf("Processing = %d, want 10 (the jobs run 1s)", st.Processing)
	}
	if a := post(t, ts.URL+"/api/v6/processing/request_count", map[string]any{"key": testKey}, nil); fmt.Sprint(a.body["processing_count"]) != "10" {
		t.Errorf("request_count: %s", a.raw)
	}
	waitUntil(t, 3*time.Second, "the queue to drain", func() bool { return s.Stats().Processing == 0 })
	if a := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil); a.status != 200 {
		t.Errorf("submit after the queue drained: %d %s", a.status, a.raw)
	}
	// Jobs done at once never take a place in the queue.
	s2, ts2 := newSandbox(t, Options{Immediate: true, QueueLimit: 1})
	s3, ts3 := newSandbox(t, Options{Delay: -1, QueueLimit: 1})
	for range 3 {
		if a := post(t, ts2.URL+"/api/v6/images/text2img", text2img(nil), nil); a.status != 200 {
			t.Errorf("immediate submit: %d %s", a.status, a.raw)
		}
		if a := post(t, ts3.URL+"/api/v6/images/text2img", text2img(nil), nil); a.status != 200 {
			t.Errorf("Delay -1 submit: %d %s", a.status, a.raw)
		}
	}
	if st2, st3 := s2.Stats(), s3.Stats(); st2.MaxProcessing != 0 || st3.MaxProcessing != 0 {
		t.Errorf("MaxProcessing %d and %d for jobs done at once", st2.MaxProcessing, st3.MaxProcessing)
	}
	// Trainings and workflow executions are not in the queue.
	if a := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x"}, "k"); a.status != http.StatusAccepted {
		t.Errorf("workflow run: %d %s", a.status, a.raw)
	}
}

// TestSoakQueueLimitConcurrency100 is the soak in small: 100 workers
// submit 200 jobs of 150-250ms against a queue of 25, retrying 429s, and
// poll each to the end. The jobs are long enough for the first wave of
// submits to fill the queue even on a loaded machine.
func TestSoakQueueLimitConcurrency100(t *testing.T) {
	t.Parallel()
	const n, limit = 200, 25
	s, ts := newSandbox(t, Options{Delay: 150 * time.Millisecond, DelayMax: 250 * time.Millisecond, QueueLimit: limit, Seed: 5, NoRecord: true})
	c := soakClient(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	err := parallelDo(n, 100, func(int) error {
		var m map[string]any
		for {
			code, _, raw, mm, err := doCall(c, ts.URL+"/api/v6/images/text2img", text2img(nil))
			if err != nil {
				return err
			}
			if code == 200 {
				m = mm
				break
			}
			if code != http.StatusTooManyRequests {
				return fmt.Errorf("submit: %d %s", code, raw)
			}
			time.Sleep(10 * time.Millisecond)
		}
		for {
			time.Sleep(50 * time.Millisecond)
			_, _, raw, f, err := doCall(c, m["fetch_result"].(string), map[string]any{"key": testKey})
			if err != nil {
				return err
			}
			if f["status"] == "success" {
				break
			}
			if f["status"] != "processing" {
				return fmt.Errorf("fetch: %s", raw)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		id := fmt.Sprint(m["id"])
		if seen[id] {
			return fmt.Errorf("id %s twice", id)
		}
		seen[id] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if len(seen) != n || st.Jobs != n || st.MaxProcessing != limit || st.RateLimited == 0 || st.Submits != n+st.RateLimited {
		t.Errorf("%d jobs done, stats %+v (limit %d)", len(seen), st, limit)
	}
}

func TestDuplicateWebhookRateArrivesTwice(t *testing.T) {
	t.Parallel()
	rs, ch := receiver(t)
	s, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond, DuplicateWebhookRate: 1})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL, "track_id": "d"}), nil)
	h1, h2 := nextHook(t, ch, "first"), nextHook(t, ch, "duplicate")
	if !bytes.Equal(h1.raw, h2.raw) || h1.body["status"] != "success" || fmt.Sprint(h1.body["id"]) != fmt.Sprint(a.body["id"]) {
		t.Errorf("webhooks:\n%s\n%s", h1.raw, h2.raw)
	}
	noMoreHooks(t, ch, 50*time.Millisecond)
	waitFor(t, "WebhooksSent", func() bool { return s.Stats().WebhooksSent == 2 })
	if st := s.Stats(); st.WebhooksDuplicated != 1 {
		t.Errorf("stats %+v", st)
	}
	// A workflow execution's one webhook too.
	wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x", "webhook": rs.URL}, "k")
	h1, h2 = nextHook(t, ch, "workflow"), nextHook(t, ch, "workflow duplicate")
	if !bytes.Equal(h1.raw, h2.raw) || h1.body["event"] != "workflow.completed" {
		t.Errorf("workflow webhooks:\n%s\n%s", h1.raw, h2.raw)
	}
}

func TestLateWebhookAfterPoll(t *testing.T) {
	t.Parallel()
	rs, ch := receiver(t)
	late := 300 * time.Millisecond
	s, ts := newSandbox(t, Options{Delay: 20 * time.Millisecond, LateWebhookRate: 1, LateWebhookDelay: late})
	start := time.Now()
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil)
	var polled time.Time
	for polled.IsZero() {
		select {
		case <-ch:
			t.Fatal("webhook came before a poll saw the result")
		default:
		}
		if f := post(t, a.body["fetch_result"].(string), map[string]any{"key": testKey}, nil); f.body["status"] == "success" {
			polled = time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	h := nextHook(t, ch, "late webhook")
	if d := time.Since(start); d < 20*time.Millisecond+late {
		t.Errorf("late webhook after %v, want >= %v", d, 20*time.Millisecond+late)
	}
	if h.body["status"] != "success" {
		t.Errorf("webhook: %s", h.raw)
	}
	waitFor(t, "WebhooksSent", func() bool { return s.Stats().WebhooksSent == 1 })
	if st := s.Stats(); st.WebhooksLate != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDroppedWebhooksCounted(t *testing.T) {
	t.Parallel()
	rs, ch := receiver(t)
	s, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond, DropWebhooks: true})
	post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil)
	post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil) // no webhook: nothing to drop
	post(t, ts.URL+"/api/v3/lora_fine_tune", loraBody(map[string]any{"webhook": rs.URL}), nil)
	wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x", "webhook": rs.URL}, "k")
	noMoreHooks(t, ch, 80*time.Millisecond)
	if st := s.Stats(); st.WebhooksDropped != 3 || st.WebhooksSent != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestManyJobsAreCheap submits 1,000 jobs of 2-3 s with webhooks at
// concurrency 100: no goroutine per job (a timer each), and Close stops
// every timer.
func TestManyJobsAreCheap(t *testing.T) {
	t.Parallel()
	rs, hooks := newHookLog(t)
	// Jobs outlast the whole check (it ends with Close), so every job is
	// still pending when the timers are counted, even on a slow machine.
	const delay = 5 * time.Second
	s := New(Options{Delay: delay, DelayMax: delay + time.Second, LateWebhookRate: 0.5, NoRecord: true})
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := soakClient(t)
	before := runtime.NumGoroutine()
	start := time.Now()
	submitMany(t, c, ts.URL, 1000, 100, map[string]any{"webhook": rs.URL})
	took := time.Since(start)
	c.CloseIdleConnections()
	// Other parallel tests start and end goroutines too: allow slack, far
	// below one per job.
	deadline := time.Now().Add(2 * time.Second)
	for g := runtime.NumGoroutine(); g > before+300; g = runtime.NumGoroutine() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines for 1,000 pending jobs (%d before)", g, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	timers := len(s.timers)
	s.mu.Unlock()
	st := s.Stats()
	// Only meaningful while no job can have ended yet: a machine so slow
	// that the first job's delay has passed is not a failure of this test.
	if time.Since(start) < delay && (timers != 1000 || st.Processing != 1000 || st.MaxProcessing != 1000) {
		t.Errorf("submits took %v; %d timers, stats %+v", took, timers, st)
	}
	closing := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(closing); d > time.Second {
		t.Errorf("Close took %v: it must stop the timers, not wait for them", d)
	}
	s.mu.Lock()
	timers = len(s.timers)
	s.mu.Unlock()
	atClose := s.Stats()
	time.Sleep(100 * time.Millisecond)
	// A POST on the wire when Close aborted it may still reach the
	// receiver, but nothing is sent once Close has returned.
	if st := s.Stats(); timers != 0 || st.WebhooksSent+st.WebhookErrors != atClose.WebhooksSent+atClose.WebhookErrors ||
		hooks.count() > atClose.WebhooksSent+atClose.WebhookErrors {
		t.Errorf("after Close: %d timers, %d webhooks received, stats %+v, at Close %+v", timers, hooks.count(), st, atClose)
	}
	reqs := s.Requests()
	if len(reqs) != 1000 || reqs[0].Body != nil || reqs[0].Path != "/api/v6/images/text2img" || reqs[999].Status != 200 {
		t.Errorf("NoRecord: %d requests, first %+v", len(reqs), reqs[0])
	}
	t.Logf("1,000 submits at concurrency 100 in %v", took)
}

func TestCloseStopsLateWebhooks(t *testing.T) {
	t.Parallel()
	rs, hooks := newHookLog(t)
	// The late webhooks are 1.5 s late: the on-time ones have all come
	// long before, even on a busy machine.
	s := New(Options{Delay: 10 * time.Millisecond, LateWebhookRate: 0.5, LateWebhookDelay: 1500 * time.Millisecond, DuplicateWebhookRate: 0.3, Seed: 9})
	ts := httptest.NewServer(s)
	defer ts.Close()
	submitMany(t, soakClient(t), ts.URL, 100, 10, map[string]any{"webhook": rs.URL})
	st := s.Stats()
	onTime := 100 - st.WebhooksLate
	waitUntil(t, 3*time.Second, "the on-time webhooks", func() bool { return hooks.count() >= onTime })
	s.mu.Lock()
	pending := len(s.timers)
	s.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	atClose := s.Stats()
	posted := atClose.WebhooksSent + atClose.WebhookErrors
	s.mu.Lock()
	left := len(s.timers)
	s.mu.Unlock()
	if left != 0 {
		t.Errorf("%d timers left after Close", left)
	}
	time.Sleep(1600 * time.Millisecond) // past every late webhook
	// A POST on the wire when Close aborted it may still reach the
	// receiver, but nothing is sent once Close has returned.
	if st := s.Stats(); st.WebhooksSent+st.WebhookErrors != posted || hooks.count() > posted {
		t.Errorf("after Close: %d webhooks received, stats %+v, at Close %+v", hooks.count(), st, atClose)
	}
	if posted >= 100+st.WebhooksDuplicated {
		t.Errorf("%d POSTs by Close, stats %+v: the late ones must not all have been sent", posted, st)
	}
	if st.WebhooksLate < 30 || pending == 0 {
		t.Errorf("%d late timers pending at Close, stats %+v", pending, st)
	}
}

func TestStatsEndpointHasFaultCounters(t *testing.T) {
	t.Parallel()
	s, ts := newSandbox(t, Options{Delay: time.Hour, QueueLimit: 1, FetchErrorRate: 1})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
	post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil) // 429: queue full
	resp, err := http.Post(a.body["fetch_result"].(string), "application/json", strings.NewReader(`{"key":"k"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	code, _, b := get(t, ts.URL+"/_sandbox/stats")
	var m map[string]any
	if code != 200 || json.Unmarshal(b, &m) != nil {
		t.Fatalf("stats: %d %s", code, b)
	}
	for _, k := range []string{"webhooks_dropped", "webhooks_duplicated", "webhooks_late", "fetch_errors", "processing", "max_processing", "rate_limited"} {
		if _, ok := m[k]; !ok {
			t.Errorf("/_sandbox/stats lacks %q: %s", k, b)
		}
	}
	var st Stats
	_ = json.Unmarshal(b, &st)
	if st != s.Stats() || st.FetchErrors != 1 || st.RateLimited != 1 || st.Processing != 1 || st.MaxProcessing != 1 {
		t.Errorf("endpoint %+v, Stats %+v", st, s.Stats())
	}
}

func TestReqLogChunks(t *testing.T) {
	t.Parallel()
	var l reqLog
	if l.all() != nil {
		t.Error("empty log is not nil")
	}
	var ptrs []*Request
	for i := range 3*reqChunk + 7 {
		ptrs = append(ptrs, l.add(Request{Path: fmt.Sprint(i)}))
	}
	for i, p := range ptrs { // pointers stay valid after later appends
		p.Status = i
	}
	all := l.all()
	if len(all) != 3*reqChunk+7 {
		t.Fatalf("%d entries", len(all))
	}
	for i, r := range all {
		if r.Path != fmt.Sprint(i) || r.Status != i {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
	all[0].Path = "changed"
	if l.all()[0].Path != "0" {
		t.Error("all shares storage with the log")
	}
}

func TestDoneAt(t *testing.T) {
	s := New(Options{Delay: 50 * time.Millisecond})
	before := time.Now()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v6/images/text2img", strings.NewReader(`{"key":"k","prompt":"x"}`)))
	if rec.Code != 200 {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	at, ok := s.DoneAt("134701497")
	if !ok || at.Sub(before) < 50*time.Millisecond || at.Sub(before) > time.Second {
		t.Fatalf("DoneAt = %v, %v (submitted at %v)", at, ok, before)
	}
	if _, ok := s.DoneAt("1"); ok {
		t.Fatal("DoneAt of an unknown id")
	}
	s.Close()
}

// TestProxyWebhooks: at ProxyWebhookRate 1 every success webhook lists the
// proxy links, not the future links of the submit answer; the files
// behind both are the same.
func TestProxyWebhooks(t *testing.T) {
	t.Parallel()
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond, ProxyWebhookRate: 1})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil)
	h := nextHook(t, ch, "proxy webhook")
	out, _ := h.body["output"].([]any)
	future, _ := a.body["future_links"].([]any)
	if len(out) == 0 || len(out) != len(future) {
		t.Fatalf("webhook output %v, future links %v", out, future)
	}
	for i := range out {
		if out[i] == future[i] || !strings.Contains(out[i].(string), "/proxy") {
			t.Errorf("output %d = %v, want a proxy link (future link %v)", i, out[i], future[i])
		}
	}
}

// TestSubmitDelayAndSlowFiles: the job exists before a delayed submit
// answers; files can be padded and trickled.
func TestSubmitDelayAndSlowFiles(t *testing.T) {
	t.Parallel()
	s, ts := newSandbox(t, Options{Delay: -1, SubmitDelay: 300 * time.Millisecond, FileSize: 4000, FileRate: 8000})
	done := make(chan answer, 1)
	start := time.Now()
	go func() { done <- post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil) }()
	waitFor(t, "job created", func() bool { return s.Stats().Jobs == 1 })
	if time.Since(start) > 250*time.Millisecond {
		t.Fatalf("job created only after %s", time.Since(start))
	}
	a := <-done
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("submit answered after %s, want >= 300ms", el)
	}
	url := a.body["future_links"].([]any)[0].(string)
	start = time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(body) != 4000 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("file of %d bytes in %s, want 4000 bytes at 8000 B/s", len(body), time.Since(start))
	}
}

// TestETAErrorAndProbes: with ETAError the reported eta is the job's true
// duration off by at most that share, differently per job; HEAD and ranged
// GETs of output files count as probes.
func TestETAErrorAndProbes(t *testing.T) {
	t.Parallel()
	s, ts := newSandbox(t, Options{Delay: 1 * time.Second, DelayMax: 5 * time.Second, ETAError: 0.3, Seed: 7})
	etas := map[float64]bool{}
	var url string
	for range 8 {
		a := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
		eta, _ := a.body["eta"].(json.Number).Float64()
		if eta < 0.7*1 || eta > 1.3*5 {
			t.Fatalf("eta %v outside ±30%% of 1-5 s", eta)
		}
		etas[eta] = true
		url = a.body["future_links"].([]any)[0].(string)
	}
	if len(etas) < 4 {
		t.Fatalf("etas %v: want them to differ per job", etas)
	}
	req, _ := http.NewRequest(http.MethodHead, url, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	req, _ = http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", "bytes=0-0")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	if st := s.Stats(); st.Probes != 2 || st.Downloads != 0 {
		t.Fatalf("stats %+v: want 2 probes, 0 downloads", st)
	}
}
