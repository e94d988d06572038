package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/journal"
)

// benchAPI is a minimal ModelsLab-shaped API for the latency benchmarks: it
// records the webhook URL of each submit, answers fetches "processing" until
// the job's done time, and counts fetches.
type benchAPI struct {
	srv     *httptest.Server
	fetches atomic.Int64
	probes  atomic.Int64
	jobDur  time.Duration

	mu      sync.Mutex
	doneAt  time.Time
	webhook chan string
}

func newBenchAPI(jobDur time.Duration) *benchAPI {
	a := &benchAPI{jobDur: jobDur, webhook: make(chan string, 1)}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	return a
}

func (a *benchAPI) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	base := a.srv.URL
	if strings.HasPrefix(r.URL.Path, "/out/") {
		// the future link: 404 until the job is done
		a.probes.Add(1)
		a.mu.Lock()
		done := !a.doneAt.IsZero() && time.Now().After(a.doneAt)
		a.mu.Unlock()
		if !done {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG\r\n\x1a\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(r.URL.Path, "/fetch/") {
		a.fetches.Add(1)
		a.mu.Lock()
		done := !a.doneAt.IsZero() && time.Now().After(a.doneAt)
		a.mu.Unlock()
		if done {
			fmt.Fprintf(w, `{"status":"success","id":1,"output":["%s/out/1.png"]}`, base)
			return
		}
		io.WriteString(w, `{"status":"processing","messege":"try again later.","output":""}`)
		return
	}
	a.mu.Lock()
	a.doneAt = time.Now().Add(a.jobDur)
	a.mu.Unlock()
	if hook, _ := body["webhook"].(string); hook != "" {
		a.webhook <- hook
	}
	eta := a.jobDur.Seconds()
	fmt.Fprintf(w, `{"status":"processing","eta":%g,"messege":"Try to fetch request after seconds estimated","fetch_result":"%s\/api\/v6\/images\/fetch\/1","id":1,"output":[],"future_links":["%s\/out\/1.png"],"meta":{"track_id":"%s"}}`,
		eta, strings.ReplaceAll(base, "/", `\/`), strings.ReplaceAll(base, "/", `\/`), body["track_id"])
}

// benchFactory is a factory on base whose configuration, journal and home
// are temporary directories: benchmarks never write into the real user's.
func benchFactory(tb testing.TB, base string) *Factory {
	f, _, _ := jobTestFactory(tb, map[string]string{"MODELSLAB_API_KEY": "bench-key", "MODELSLAB_BASE_URL": base})
	return f
}

// TestBenchFactoryIsolated: the benchmarks' journal and configuration are
// the test's own.
func TestBenchFactoryIsolated(t *testing.T) {
	f := benchFactory(t, "http://127.0.0.1:9")
	state, err := journal.DefaultDir(f.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	tmp := os.TempDir()
	for name, dir := range map[string]string{"journal": state, "config": cfg.Dir} {
		if !strings.HasPrefix(dir, tmp) {
			t.Errorf("the benchmarks' %s is %s, not a temporary directory", name, dir)
		}
	}
}

// BenchmarkWebhookToExit measures the time from a webhook's arrival (the
// moment our POST to the listener is sent) to the command's return, and the
// fetch calls each job cost (expected: 0, the outputs match future_links).
func BenchmarkWebhookToExit(b *testing.B) {
	var total time.Duration
	var fetches int64
	for b.Loop() {
		a := newBenchAPI(time.Hour)
		f := benchFactory(b, a.srv.URL)
		done := make(chan time.Time, 1)
		go func() {
			code := Run(context.Background(), f, []string{"img", "x", "--wait", "--tunnel", "local", "--json"})
			if code != 0 {
				b.Errorf("exit %d", code)
			}
			done <- time.Now()
		}()
		hook := <-a.webhook
		body := fmt.Sprintf(`{"status":"success","id":1,"output":["%s\/out\/1.png"]}`, strings.ReplaceAll(a.srv.URL, "/", `\/`))
		t0 := time.Now()
		resp, err := http.Post(hook, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		total += (<-done).Sub(t0)
		fetches += a.fetches.Load()
		a.srv.Close()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-webhook-to-exit")
	b.ReportMetric(float64(fetches)/float64(b.N), "fetches/job")
}

// BenchmarkPollOnly measures, without a webhook (--tunnel none), the time
// from the job being done at the API to the command's return, and the
// fetches and link probes per job, for a job whose eta (300ms) is right:
// watching its future link (links), and with --probe-rate 0 (fetch-only,
// whose first fetch the official CLI's budget puts at 1 s).
func BenchmarkPollOnly(b *testing.B) {
	for _, c := range []struct{ name, rate string }{{"links", "20"}, {"fetch-only", "0"}} {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			var fetches, probes int64
			for b.Loop() {
				a := newBenchAPI(300 * time.Millisecond)
				f := benchFactory(b, a.srv.URL)
				code := Run(context.Background(), f, []string{"img", "x", "--wait", "--tunnel", "none", "--json", "--probe-rate", c.rate})
				end := time.Now()
				if code != 0 {
					b.Fatalf("exit %d", code)
				}
				a.mu.Lock()
				total += end.Sub(a.doneAt)
				a.mu.Unlock()
				fetches += a.fetches.Load()
				probes += a.probes.Load()
				a.srv.Close()
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-done-to-exit")
			b.ReportMetric(float64(fetches)/float64(b.N), "fetches/job")
			b.ReportMetric(float64(probes)/float64(b.N), "probes/job")
		})
	}
}
