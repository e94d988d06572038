package cmd

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestListenAnswersWhileEverythingElseIsStuck: stdout, the record file and
// the forwarded-to app all block; every delivery is still answered 200 at
// once, and once they unblock, nothing is lost.
func TestListenAnswersWhileEverythingElseIsStuck(t *testing.T) {
	open := make(chan struct{})
	var stdout lockedBuffer
	const n = 40
	forwardedBodies := make(chan string, 2*n) // never full: the app never waits on it
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		<-open
		forwardedBodies <- string(b)
	}))
	defer app.Close()
	rec := filepath.Join(t.TempDir(), "rec.jsonl")
	f := testFactory(t, &gate{open: open, w: &stdout}, io.Discard)
	o := &ListenOptions{f: f, JSON: true, Record: rec, ForwardTo: app.URL,
		recordWrap: func(w io.Writer) io.Writer { return &gate{open: open, w: w} }}
	hook, stop := startListen(t, o)

	var slowest time.Duration
	for i := range n {
		start := time.Now()
		resp, err := http.Post(hook, "application/json", strings.NewReader(fmt.Sprintf(`{"status":"success","id":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		slowest = max(slowest, time.Since(start))
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
	if c := strings.Count(readFileT(t, rec), "\n"); c != n {
		t.Fatalf("%d recorded lines, want %d", c, n)
	}
	var fwBodies []string
	for len(forwardedBodies) > 0 {
		fwBodies = append(fwBodies, <-forwardedBodies)
	}
	if forwarded := len(fwBodies); forwarded != n {
		t.Fatalf("%d forwarded, want %d", forwarded, n)
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
