package links

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// cdn is a hostile-ish CDN: ready says whether the file exists; head is
// the status HEAD gets instead of the truth (0: the truth).
type cdn struct {
	mu      sync.Mutex
	ready   bool
	head    int
	missing int // status of a missing file (default 404)
	page    bool
	status  int // forced status for every request (429, 503)
	methods []string
}

func (c *cdn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.methods = append(c.methods, r.Method+" "+r.Header.Get("Range"))
	switch {
	case c.status != 0:
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(c.status)
	case r.Method == http.MethodHead && c.head != 0:
		w.WriteHeader(c.head)
	case c.page:
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><body>Not ready</body></html>"))
	case !c.ready:
		status := http.StatusNotFound
		if c.missing != 0 {
			status = c.missing
		}
		w.WriteHeader(status)
	default:
		w.Header().Set("Content-Type", "image/png")
		if r.Header.Get("Range") != "" {
			w.Header().Set("Content-Range", "bytes 0-0/100")
			w.WriteHeader(http.StatusPartialContent)
			w.Write([]byte{0x89})
			return
		}
		w.Write(make([]byte, 100))
	}
}

func (c *cdn) set(f func(*cdn)) {
	c.mu.Lock()
	f(c)
	c.mu.Unlock()
}

func (c *cdn) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.methods...)
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name      string
		cdn       cdn
		wantReady bool
		wantErr   bool
		methods   []string
	}{
		{"missing", cdn{}, false, false, []string{"HEAD "}},
		{"ready", cdn{ready: true}, true, false, []string{"HEAD "}},
		{"HEAD refused 405, GET tells ready", cdn{ready: true, head: 405}, true, false, []string{"HEAD ", "GET bytes=0-0"}},
		{"HEAD refused 403, GET tells missing", cdn{head: 403}, false, false, []string{"HEAD ", "GET bytes=0-0"}},
		{"bucket 403 for missing", cdn{missing: 403}, false, false, []string{"HEAD ", "GET bytes=0-0"}},
		{"HTML page with 200 is not ready", cdn{page: true}, false, false, []string{"HEAD "}},
		{"429", cdn{status: 429}, false, true, []string{"HEAD "}},
		{"503", cdn{status: 503}, false, true, []string{"HEAD "}},
	}
	for i := range cases {
		c := &cases[i]
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(&c.cdn)
			defer srv.Close()
			p := &Prober{}
			ready, err := p.Check(context.Background(), srv.URL+"/generations/1-0.png")
			if ready != c.wantReady || (err != nil) != c.wantErr {
				t.Fatalf("Check = %v, %v; want %v, error %v", ready, err, c.wantReady, c.wantErr)
			}
			if c.wantErr {
				var te *ThrottledError
				if !errors.As(err, &te) || te.RetryAfter != 3*time.Second {
					t.Fatalf("error %v, want a *ThrottledError with Retry-After 3s", err)
				}
			}
			got := c.cdn.seen()
			if len(got) != len(c.methods) {
				t.Fatalf("requests %q, want %q", got, c.methods)
			}
			for i := range got {
				if got[i] != c.methods[i] {
					t.Fatalf("requests %q, want %q", got, c.methods)
				}
			}
		})
	}
}

// A host that refuses HEAD is asked with a ranged GET from then on: one
// request per probe, not two.
func TestCheckRemembersHeadRefused(t *testing.T) {
	c := &cdn{head: 405}
	srv := httptest.NewServer(c)
	defer srv.Close()
	p := &Prober{}
	for range 3 {
		if ready, err := p.Check(context.Background(), srv.URL+"/x.png"); ready || err != nil {
			t.Fatalf("Check = %v, %v", ready, err)
		}
	}
	c.set(func(c *cdn) { c.ready = true })
	if ready, err := p.Check(context.Background(), srv.URL+"/x.png"); !ready || err != nil {
		t.Fatalf("Check = %v, %v once ready", ready, err)
	}
	want := []string{"HEAD ", "GET bytes=0-0", "GET bytes=0-0", "GET bytes=0-0", "GET bytes=0-0"}
	if got := c.seen(); len(got) != len(want) || p.Requests() != len(want) {
		t.Fatalf("requests %q (%d counted), want %q", got, p.Requests(), want)
	}
}

func TestCheckNotProbeable(t *testing.T) {
	p := &Prober{}
	for _, link := range []string{"", "ftp://x/y.png", "data:image/png;base64,AAAA", "/relative.png"} {
		if _, err := p.Check(context.Background(), link); !errors.Is(err, ErrNotProbeable) {
			t.Errorf("Check(%q) error %v, want ErrNotProbeable", link, err)
		}
	}
}

func TestErrorPage(t *testing.T) {
	for _, c := range []struct {
		ct   string
		head string
		want bool
	}{
		{"image/png", "\x89", false},
		{"text/html; charset=utf-8", "", true},
		{"application/xml", "", true},
		{"application/json", "", true},
		{"image/svg+xml", "<svg", false},
		{"", "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>", true},
		{"application/octet-stream", "  <html>", true},
		{"application/octet-stream", "<", false}, // one byte of a range says nothing
		{"video/mp4", "\x00\x00\x00\x18ftypmp42", false},
	} {
		if got := errorPage(c.ct, []byte(c.head)); got != c.want {
			t.Errorf("errorPage(%q, %q) = %v, want %v", c.ct, c.head, got, c.want)
		}
	}
}

// The budget gives out at most rate+1 probes in any second, to the
// highest priority first, and pauses everyone after a 429.
func TestBudget(t *testing.T) {
	t.Run("rate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := NewBudget(10)
			start := time.Now()
			var times []time.Duration
			for range 25 {
				if err := b.Acquire(context.Background(), 1, time.Now()); err != nil {
					t.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			for i := range times {
				n := 0
				for _, at := range times[i:] {
					if at-times[i] < time.Second {
						n++
					}
				}
				if n > 10 {
					t.Fatalf("%d grants within a second of %s: %v", n, times[i], times)
				}
			}
			if last := times[len(times)-1]; last != 2520*time.Millisecond {
				t.Fatalf("25 grants at 10/s took %s, want 2.52s (24 gaps of 105 ms)", last)
			}
		})
	})
	t.Run("weight", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := NewBudget(10)
			start := time.Now()
			if err := b.Acquire(context.Background(), 1, time.Now()); err != nil { // empty the bucket
				t.Fatal(err)
			}
			var mu sync.Mutex
			var order []float64
			var wg sync.WaitGroup
			for _, p := range []float64{1, 5, 3, 5, 0.5} {
				wg.Go(func() {
					if err := b.Acquire(context.Background(), p, start); err != nil {
						t.Error(err)
					}
					mu.Lock()
					order = append(order, p)
					mu.Unlock()
				})
				synctest.Wait() // queued in this order
			}
			wg.Wait()
			want := []float64{5, 5, 3, 1, 0.5}
			for i := range want {
				if order[i] != want[i] {
					t.Fatalf("served %v, want %v", order, want)
				}
			}
		})
	})
	t.Run("staleness, and nobody starves", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := NewBudget(10)
			b.Acquire(context.Background(), 1, time.Now()) // empty the bucket
			// Two eager jobs of weight 1 probe again as soon as they can;
			// a third of weight 1/4 still gets its turn.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			var mu sync.Mutex
			count := map[string]int{}
			var wg sync.WaitGroup
			for _, c := range []struct {
				name   string
				weight float64
			}{{"a", 1}, {"b", 1}, {"low", 0.25}} {
				wg.Go(func() {
					last := time.Now()
					for b.Acquire(ctx, c.weight, last) == nil {
						last = time.Now()
						mu.Lock()
						count[c.name]++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if count["low"] < 3 || count["a"] < count["low"] || count["b"] < count["low"] {
				t.Fatalf("grants %v: the low-weight job starved or the eager ones did not lead", count)
			}
			if total := count["a"] + count["b"] + count["low"]; total > 30 {
				t.Fatalf("%d grants in 3 s at 10/s", total)
			}
		})
	})
	t.Run("throttled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := NewBudget(20)
			start := time.Now()
			b.Throttled(0) // no Retry-After: 1 s, then 2 s …
			if err := b.Acquire(context.Background(), 1, time.Now()); err != nil {
				t.Fatal(err)
			}
			if at := time.Since(start); at != MinBackoff {
				t.Fatalf("granted after %s, want %s", at, MinBackoff)
			}
			b.Throttled(0)
			mark := time.Now()
			if err := b.Acquire(context.Background(), 1, time.Now()); err != nil {
				t.Fatal(err)
			}
			if at := time.Since(mark); at != 2*MinBackoff {
				t.Fatalf("second back-off %s, want %s", at, 2*MinBackoff)
			}
			b.OK()
			b.Throttled(5 * time.Second) // the CDN's Retry-After wins
			mark = time.Now()
			if err := b.Acquire(context.Background(), 1, time.Now()); err != nil {
				t.Fatal(err)
			}
			if at := time.Since(mark); at != 5*time.Second {
				t.Fatalf("Retry-After pause %s, want 5s", at)
			}
			if st := b.Stats(); st.Granted != 3 || st.Throttle != 3 || st.Waiting != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	})
	t.Run("cancelled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := NewBudget(1)
			b.Acquire(context.Background(), 1, time.Now())
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := b.Acquire(ctx, 1, time.Now()); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v", err)
			}
			if st := b.Stats(); st.Waiting != 0 || st.Granted != 1 {
				t.Fatalf("stats %+v after a cancelled wait", st)
			}
		})
	})
}
