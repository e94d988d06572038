package runner_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// The tests run the runner against internal/sandbox: in memory (a
// RoundTripper that calls its handler, so that testing/synctest's fake
// clock drives the sandbox's job delays, the poller and the retries) or on
// loopback with a real receiver for webhooks.

// handlerTransport serves requests with an http.Handler, in memory.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	sr := r.Clone(r.Context())
	sr.Host, sr.RequestURI, sr.RemoteAddr = r.URL.Host, r.URL.RequestURI(), "192.0.2.1:4242"
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, sr)
	if err := r.Context().Err(); err != nil {
		return nil, err // the client gave up before the answer, as over a network
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

const memBase = "http://sandbox.test"

// memAPI is a sandbox served in memory and a client for it.
func memAPI(t *testing.T, o sandbox.Options, extra ...api.Option) (*sandbox.Server, *api.Client) {
	t.Helper()
	sb := sandbox.New(o)
	t.Cleanup(func() { sb.Close() })
	opts := append([]api.Option{api.WithHTTPClient(&http.Client{Transport: handlerTransport{sb}})}, extra...)
	return sb, api.New(memBase, "test-key", opts...)
}

// closedBase is the base URL of a loopback port nothing listens on.
func closedBase(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return "http://" + ln.Addr().String()
}

// openJournal opens a journal in a fresh directory.
func openJournal(t *testing.T) *journal.Journal {
	t.Helper()
	jr, err := journal.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jr.Close() })
	return jr
}

// newJob is a job for endpoint name with body, its local inputs found.
func newJob(t *testing.T, name string, body map[string]any) *runner.Job {
	t.Helper()
	ep, ok := api.Lookup(name)
	if !ok {
		t.Fatalf("no endpoint %s", name)
	}
	inputs, err := api.LocalInputs(body)
	if err != nil {
		t.Fatal(err)
	}
	return &runner.Job{Endpoint: ep, Body: body, Inputs: inputs}
}

// entry returns the journal's entry for id.
func entry(t *testing.T, jr *journal.Journal, id string) *journal.Entry {
	t.Helper()
	e, err := jr.Get(id)
	if err != nil {
		t.Fatalf("journal entry %s: %v", id, err)
	}
	return e
}

// downloads is an injected downloader that writes a small file per URL
// and records the calls.
type downloads struct {
	mu    sync.Mutex
	calls [][]string
	fail  error
}

func (d *downloads) fn(_ context.Context, urls []string, dir string, _ runner.DownloadOptions) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, urls)
	if d.fail != nil {
		return nil, d.fail
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	files := make([]string, len(urls))
	for i, u := range urls {
		files[i] = filepath.Join(dir, fmt.Sprintf("%d-%s", i, path.Base(u)))
		if err := os.WriteFile(files[i], []byte(u), 0o644); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// recorder is an Observer (and BatchObserver) that keeps every event.
type recorder struct {
	mu         sync.Mutex
	submitted  []string // "id waitingFor"
	phases     []string
	notices    []runner.Notice
	finished   []*runner.Outcome
	errs       []error
	totals     []runner.Totals
	inFinished bool
	overlap    bool // two Finished calls overlapped
	onSubmit   func(*runner.Job)
}

func (r *recorder) Submitted(j *runner.Job, _ float64, waitingFor string) {
	r.mu.Lock()
	r.submitted = append(r.submitted, j.ID+" "+waitingFor)
	hook := r.onSubmit
	r.mu.Unlock()
	if hook != nil {
		hook(j)
	}
}

func (r *recorder) Progress(_ *runner.Job, p job.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phases = append(r.phases, p.Phase)
}

func (r *recorder) Notice(_ *runner.Job, n runner.Notice) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, n)
}

func (r *recorder) Finished(_ *runner.Job, o *runner.Outcome, err error) {
	r.mu.Lock()
	if r.inFinished {
		r.overlap = true
	}
	r.inFinished = true
	r.finished = append(r.finished, o)
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	// Give a concurrent Finished the chance to show itself.
	for range 10 {
		runtime.Gosched()
	}
	r.mu.Lock()
	r.inFinished = false
	r.mu.Unlock()
}

func (r *recorder) Totals(t runner.Totals) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.totals = append(r.totals, t)
}

func (r *recorder) noticeTexts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.notices {
		out = append(out, n.Text)
	}
	return out
}
