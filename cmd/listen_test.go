package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/listener"
	"github.com/mlabcli/mlab/internal/output"
)

func readPayload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "payloads", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSummarizeDocumentedShapes(t *testing.T) {
	cases := []struct {
		file string
		want deliverySummary
	}{
		{"webhook.success.json", deliverySummary{Kind: kindGeneration, Status: "success", ID: "abc123-def456", TrackID: "video_001"}},
		{"webhook.failed.json", deliverySummary{Kind: kindGeneration, Status: "failed", ID: "abc123-def456", TrackID: "video_001"}},
		{"lora_fine_tune.webhook.json", deliverySummary{Kind: kindTraining, Status: "deploying_gpu", ID: "F5jvdzGnYi"}},
		{"workflows.webhook.overview.json", deliverySummary{Kind: kindWorkflow, Status: "completed", ID: "12345"}},
		{"workflows.webhook.webhooks-page.json", deliverySummary{Kind: kindWorkflow, Status: "completed", ID: "exec_xyz789"}},
		// A fetch-shaped success body (what generation webhooks plausibly
		// mirror): integer id, track_id in meta.
		{"text2img.response.success.json", deliverySummary{Kind: kindGeneration, Status: "success"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got := summarize(readPayload(t, c.file))
			if c.file == "text2img.response.success.json" {
				if got.Kind != kindGeneration || got.Status != "success" || got.ID == "" {
					t.Fatalf("got %+v", got)
				}
				return
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
	for body, kind := range map[string]string{
		`[1,2]`:                       kindUnknown,
		`{}`:                          kindUnknown,
		`{"hello":"world"}`:           kindUnknown,
		`{"status":"processing"}`:     kindGeneration,
		`{"id":134701497}`:            kindGeneration,
		`{"event":"workflow.failed"}`: kindWorkflow,
	} {
		if got := summarize([]byte(body)).Kind; got != kind {
			t.Errorf("summarize(%s).Kind = %s, want %s", body, got, kind)
		}
	}
	if got := summarize([]byte(`{"status":"success","id":134701497,"meta":{"track_id":"in-meta"}}`)); got.ID != "134701497" || got.TrackID != "in-meta" {
		t.Fatalf("numeric id / meta.track_id: %+v", got)
	}
}

func TestDuplicates(t *testing.T) {
	var dd deduper
	seq := []struct {
		body string
		dup  bool
	}{
		{`{"status":"success","id":1,"track_id":"a"}`, false},
		{`{"status":"success","id":1,"track_id":"a"}`, true},
		{"{\n  \"status\": \"success\", \"id\": 1, \"track_id\": \"a\", \"generationTime\": 3}", true}, // same job, same status
		{`{"status":"failed","id":1,"track_id":"a"}`, false},                                           // a new status
		{`{"status":"success","id":2,"track_id":"a"}`, false},
		{`{"status":"success","training_status":"deploying_gpu","model_id":"m"}`, false},
		{`{"status":"success","training_status":"trained","model_id":"m"}`, false},
		{`{"status":"success","training_status":"trained","model_id":"m"}`, true},
		{`{"x":1}`, false},
		{`{ "x" : 1 }`, true}, // no id: keyed by the compact body
		{`{"x":2}`, false},
	}
	for i, s := range seq {
		p, err := processDelivery(listener.Delivery{Body: []byte(s.body), Header: http.Header{}}, &dd)
		if err != nil {
			t.Fatal(err)
		}
		if p.dup != s.dup {
			t.Errorf("delivery %d %s: duplicate=%v, want %v", i, s.body, p.dup, s.dup)
		}
	}
}

func TestDeliveryLineKeepsExactBytes(t *testing.T) {
	for _, body := range [][]byte{
		readPayload(t, "webhook.success.json"),                                           // pretty: raw_body
		[]byte(`{"status":"success","output":["https:\/\/x\/a.png"],"note":"<b>&</b>"}`), // compact, PHP slashes, HTML chars
		[]byte("{\"s\":\"\xff\xfe\"}"),                                                   // not UTF-8: raw_body_base64
	} {
		var dd deduper
		p, err := processDelivery(listener.Delivery{Body: body, Method: "POST", Path: "/t", Header: http.Header{"Content-Type": {"application/json"}}, ReceivedAt: time.Now()}, &dd)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(p.line, []byte("\n")) != 1 || !bytes.HasSuffix(p.line, []byte("\n")) {
			t.Fatalf("not one line: %q", p.line)
		}
		var l deliveryLine
		if err := json.Unmarshal(p.line, &l); err != nil {
			t.Fatal(err)
		}
		got, err := l.bodyBytes()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("round trip: %q, %v; want %q", got, err, body)
		}
		if !json.Valid(l.Body) || l.Headers["Content-Type"] != "application/json" || l.Method != "POST" || l.Path != "/t" {
			t.Fatalf("line %s", p.line)
		}
	}
}

func TestRecorderEndsAPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	os.WriteFile(path, []byte("{\"body\":{\"complete\":1}}\n{\"body\":{\"cut\":"), 0o600)
	r, err := openRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.write([]byte("{\"body\":{\"next\":2}}\n")); err != nil {
		t.Fatal(err)
	}
	r.close()
	b, _ := os.ReadFile(path)
	if string(b) != "{\"body\":{\"complete\":1}}\n{\"body\":{\"cut\":\n{\"body\":{\"next\":2}}\n" {
		t.Fatalf("file %q", b)
	}
	var warned []string
	recs, err := readRecords(bytes.NewReader(b), func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) })
	if err != nil || len(recs) != 2 || len(warned) != 1 || !strings.Contains(warned[0], "line 2") {
		t.Fatalf("recs %d, warned %q, err %v", len(recs), warned, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}

// gate blocks every Write until it is opened: a terminal, a disk or an app
// that has stopped dead.
type gate struct {
	open chan struct{}
	mu   sync.Mutex
	w    io.Writer
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.w.Write(p)
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testFactory(t testing.TB, out, errOut io.Writer) *Factory {
	ios, _, _, _ := output.Test()
	ios.Out, ios.ErrOut = out, errOut
	dir := t.TempDir()
	return NewFactory(ios, BuildInfo{Version: "test"}, func(k string) string {
		if k == "MLAB_CONFIG_DIR" {
			return dir
		}
		return ""
	})
}

// startListen runs `mlab listen` in-process and returns its webhook URL and
// a function that stops it (like Ctrl-C) and returns its error.
func startListen(t testing.TB, o *ListenOptions) (string, func() error) {
	t.Helper()
	if o.Tunnel == "" {
		o.Tunnel = "local"
	}
	if o.TunnelWait == 0 {
		o.TunnelWait = time.Second
	}
	if o.ForwardTimeout == 0 {
		o.ForwardTimeout = 10 * time.Second
	}
	ready := make(chan string, 1)
	o.onReady = func(u string) { ready <- u }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- runListen(ctx, o) }()
	select {
	case u := <-ready:
		return u, func() error { cancel(); return <-done }
	case err := <-done:
		t.Fatalf("listen ended before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("listen not ready in 10s")
	}
	return "", nil
}

// TestListenAnswersWhileEverythingElseIsStuck: stdout, the record file and
// the forwarded-to app all block; every delivery is still answered 200 at
// once, and once they unblock, nothing is lost.
func TestListenAnswersWhileEverythingElseIsStuck(t *testing.T) {
	open := make(chan struct{})
	var stdout lockedBuffer
	var forwarded atomic.Int64
	var fwMu sync.Mutex
	var fwBodies []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		<-open
		fwMu.Lock()
		fwBodies = append(fwBodies, string(b))
		fwMu.Unlock()
		forwarded.Add(1)
	}))
	defer app.Close()
	rec := filepath.Join(t.TempDir(), "rec.jsonl")
	f := testFactory(t, &gate{open: open, w: &stdout}, io.Discard)
	o := &ListenOptions{f: f, JSON: true, Record: rec, ForwardTo: app.URL,
		recordWrap: func(w io.Writer) io.Writer { return &gate{open: open, w: w} }}
	hook, stop := startListen(t, o)

	const n = 40
	var slowest time.Duration
	for i := range n {
		start := time.Now()
		resp, err := http.Post(hook, "application/json", strings.NewReader(fmt.Sprintf(`{"status":"success","id":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		took := time.Since(start)
		slowest = max(slowest, took)
		if resp.StatusCode != 200 {
			t.Fatalf("delivery %d answered %d", i, resp.StatusCode)
		}
	}
	if slowest > time.Second {
		t.Fatalf("slowest answer %s while output, record and app were stuck", slowest)
	}
	t.Logf("slowest answer %s with output, record and app stuck", slowest)
	close(open)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines on stdout, want %d", len(lines), n)
	}
	b, _ := os.ReadFile(rec)
	if c := bytes.Count(b, []byte("\n")); c != n {
		t.Fatalf("%d recorded lines, want %d", c, n)
	}
	if forwarded.Load() != n {
		t.Fatalf("%d forwarded, want %d", forwarded.Load(), n)
	}
	for i := range n {
		if !slices.Contains(fwBodies, fmt.Sprintf(`{"status":"success","id":%d}`, i)) {
			t.Fatalf("delivery %d not forwarded byte for byte", i)
		}
	}
}

// TestListenDrainIsBounded: an app that never answers does not keep mlab
// listen from exiting; the deliveries left are reported.
func TestListenDrainIsBounded(t *testing.T) {
	block := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // so the server notices the client hanging up
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer app.Close()
	defer close(block) // before app.Close
	var errOut lockedBuffer
	f := testFactory(t, io.Discard, &errOut)
	o := &ListenOptions{f: f, JSON: true, ForwardTo: app.URL, drainBound: 300 * time.Millisecond}
	hook, stop := startListen(t, o)
	for i := range 6 {
		resp, err := http.Post(hook, "application/json", strings.NewReader(fmt.Sprintf(`{"id":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("stopping took %s", took)
	}
	if !strings.Contains(errOut.String(), "6 deliveries not forwarded") {
		t.Fatalf("stderr:\n%s", errOut.String())
	}
}

func TestListenCountAndRejections(t *testing.T) {
	var stdout, errOut lockedBuffer
	f := testFactory(t, &stdout, &errOut)
	o := &ListenOptions{f: f, Count: 2, Token: "tok"}
	ready := make(chan string, 1)
	o.Tunnel, o.TunnelWait, o.ForwardTimeout = "local", time.Second, time.Second
	o.onReady = func(u string) { ready <- u }
	done := make(chan error, 1)
	go func() { done <- runListen(context.Background(), o) }()
	hook := <-ready
	if !strings.HasSuffix(hook, "/tok") {
		t.Fatalf("url %s", hook)
	}
	for _, c := range []struct {
		url, body string
		want      int
	}{
		{hook + "x", `{"id":1}`, 404},
		{hook, `not json`, 400},
		{hook, `{"id":1}`, 200},
		{hook, `{"id":1}`, 200},
	} {
		resp, err := http.Post(c.url, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Fatalf("%s %s: %d, want %d", c.url, c.body, resp.StatusCode, c.want)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("--count 2 did not stop listen")
	}
	// off a terminal: JSON lines even without --json
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	var dups []bool
	for sc.Scan() {
		var l deliveryLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		dups = append(dups, l.Duplicate)
	}
	if !slices.Equal(dups, []bool{false, true}) {
		t.Fatalf("duplicates %v\n%s", dups, stdout.String())
	}
	for _, want := range []string{"answered 404: not found", "answered 400: body is not JSON", "Stopped after 2 deliveries (1 duplicate, 2 rejected)"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

func TestListenFlags(t *testing.T) {
	ios, _, _, _ := output.Test()
	f := NewFactory(ios, BuildInfo{}, func(string) string { return "" })
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"--tunnel", "local", "--listen", "127.0.0.1:0", "--token", "t0k", "--count", "3", "--json", "--forward-to", "http://localhost:3000/x", "--record", "r.jsonl", "-v", "--print-url"}, true},
		{[]string{"--public-url", "https://hooks.example.com/base", "--listen", "127.0.0.1:8787"}, true},
		{[]string{"--tunnel", "ngrok"}, true},
		{[]string{"--tunnel", "none"}, false},
		{[]string{"--tunnel", "url"}, false},
		{[]string{"--tunnel", "ngrok", "--listen", "127.0.0.1:1"}, false},
		{[]string{"--tunnel", "local", "--public-url", "https://x.example"}, false},
		{[]string{"--token", "a b"}, false},
		{[]string{"--token", strings.Repeat("a", 129)}, false},
		{[]string{"--count", "-1"}, false},
		{[]string{"--forward-to", "ftp://x"}, false},
		{[]string{"--forward-timeout", "0s"}, false},
		{[]string{"extra"}, false},
	} {
		var got *ListenOptions
		cmd := newCmdListen(f, func(_ context.Context, o *ListenOptions) error { got = o; return nil })
		cmd.SetArgs(c.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		if (err == nil) != c.ok {
			t.Errorf("%v: err %v, want ok=%v", c.args, err, c.ok)
			continue
		}
		if err != nil && exitCodeFor(err) != ExitUsage {
			t.Errorf("%v: exit %d, want 2", c.args, exitCodeFor(err))
		}
		if c.ok && got == nil {
			t.Errorf("%v: not run", c.args)
		}
	}
}
