package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/receiver"
)

// openLoopback opens a real loopback receiver whose rejections go to e,
// and registers token on it.
func openLoopback(t *testing.T, e *Engine, token string) (*receiver.Receiver, *receiver.Registration) {
	t.Helper()
	rc, err := receiver.Open(context.Background(), receiver.Options{Mode: receiver.ModeLocal, Buffer: Buffer, OnReject: e.Reject})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	reg, err := rc.Register(token)
	if err != nil {
		t.Fatal(err)
	}
	return rc, reg
}

func post(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestEngineOverLoopbackReceiver: a real loopback receiver; rejections are
// reported, deliveries deduped, recorded, forwarded byte for byte and
// reported in order; --count 3 stops the run and closes the receiver.
func TestEngineOverLoopbackReceiver(t *testing.T) {
	a := &app{}
	srv := httptest.NewServer(a)
	defer srv.Close()
	recPath := filepath.Join(t.TempDir(), "rec.jsonl")
	rec, err := OpenRecorder(recPath)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	obs := &observer{}
	e := New(Options{Count: 3, Recorder: rec, ForwardTo: srv.URL + "/hooks", ForwardTimeout: 5 * time.Second, Observer: obs})
	rc, reg := openLoopback(t, e, "tok")
	wait := start(context.Background(), e, rc, reg)

	if code := post(t, reg.URL+"x", `{"id":1}`); code != 404 {
		t.Fatalf("wrong token: %d", code)
	}
	if code := post(t, reg.URL, `not json`); code != 400 {
		t.Fatalf("not JSON: %d", code)
	}
	sent := []string{`{"status":"success","id":1}`, "{ \"status\": \"success\", \"id\": 1 }", `{"status":"success","id":2}`}
	for _, b := range sent {
		if code := post(t, reg.URL, b); code != 200 {
			t.Fatalf("delivery %s: %d", b, code)
		}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	if got := obs.bodies(); !slices.Equal(got, sent) {
		t.Fatalf("delivered %q", got)
	}
	var dups []bool
	var lines string
	for _, p := range obs.delivered {
		dups = append(dups, p.Duplicate)
		lines += string(p.Line)
	}
	if !slices.Equal(dups, []bool{false, true, false}) {
		t.Fatalf("duplicates %v", dups)
	}
	if len(obs.rejected) != 2 || obs.rejected[0].Status != 404 || obs.rejected[1].Status != 400 {
		t.Fatalf("rejected %+v", obs.rejected)
	}
	if b, _ := os.ReadFile(recPath); string(b) != lines {
		t.Fatalf("record:\n%s\nwant:\n%s", b, lines)
	}
	_, headers, forwarded := a.got()
	slices.Sort(forwarded)
	if want := slices.Sorted(slices.Values(sent)); !slices.Equal(forwarded, want) {
		t.Fatalf("forwarded %q", forwarded)
	}
	for _, h := range headers {
		if h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-Forwarded-Proto") != "http" {
			t.Fatalf("forwarded headers %v", h)
		}
	}
	if len(obs.forwarded) != 3 || !obs.forwarded[0].OK() {
		t.Fatalf("forward results %+v", obs.forwarded)
	}
	want := Stats{Deliveries: 3, Duplicates: 1, Rejected: 2, CountReached: true, DrainBound: DefaultDrainBound}
	if len(obs.stats) != 1 || obs.stats[0] != want || len(obs.problems) != 0 {
		t.Fatalf("stats %+v, problems %q", obs.stats, obs.problems)
	}
	if _, err := http.Post(reg.URL, "application/json", strings.NewReader(`{}`)); err == nil {
		t.Fatal("the receiver still answers after the run")
	}
}

// TestEngineNeverBlocksTheHTTPSide: with the observer stuck, every
// delivery is still answered at once; once it moves, none is lost, and
// deliveries queued before the stop are still processed.
func TestEngineNeverBlocksTheHTTPSide(t *testing.T) {
	obs := &observer{gate: make(chan struct{})}
	e := New(Options{Observer: obs})
	rc, reg := openLoopback(t, e, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := start(ctx, e, rc, reg)
	const n = 40
	var sent []string
	for i := range n {
		b := fmt.Sprintf(`{"id":%d}`, i)
		began := time.Now()
		if code := post(t, reg.URL, b); code != 200 {
			t.Fatalf("delivery %d: %d", i, code)
		}
		// Generous for a loaded CI machine; stuck, it would never answer.
		if took := time.Since(began); took > 5*time.Second {
			t.Fatalf("delivery %d answered after %s", i, took)
		}
		sent = append(sent, b)
	}
	cancel()
	close(obs.gate)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if got := obs.bodies(); !slices.Equal(got, sent) {
		t.Fatalf("delivered %d of %d: %q", len(got), n, got)
	}
	if s := obs.stats[0]; s.Deliveries != n || s.CountReached || s.Unprocessed != 0 || s.Busy != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestEngineAnswers503WhenFull: a real loopback receiver. With the
// observer stuck and every queue full, the listener answers 503 with
// Retry-After (never 200-and-drop); the 503s are summed up, not reported
// one by one; every delivery answered 200 is shown once the observer
// moves.
func TestEngineAnswers503WhenFull(t *testing.T) {
	obs := &observer{gate: make(chan struct{})}
	e := New(Options{Observer: obs})
	e.q = newFIFO(2, maxQueuedBytes, queuedSize)
	rc, err := receiver.Open(context.Background(), receiver.Options{Mode: receiver.ModeLocal, Buffer: 2, OnReject: e.Reject})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	reg, err := rc.Register("tok")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := start(ctx, e, rc, reg)
	var accepted []string
	busy := 0
	for i := 0; busy < 3 && i < 100; i++ {
		b := fmt.Sprintf(`{"id":%d}`, i)
		resp, err := http.Post(reg.URL, "application/json", strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			accepted = append(accepted, b)
		case 503:
			if resp.Header.Get("Retry-After") != "1" {
				t.Fatalf("503 without Retry-After: %v", resp.Header)
			}
			busy++
		default:
			t.Fatalf("delivery %d answered %d", i, resp.StatusCode)
		}
	}
	if busy != 3 || len(accepted) > 1+2+1+2 {
		t.Fatalf("%d accepted, %d refused: want the queues to fill, then 503s", len(accepted), busy)
	}
	close(obs.gate)
	cancel()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if got := obs.bodies(); !slices.Equal(got, accepted) {
		t.Fatalf("shown %q, answered 200 %q", got, accepted)
	}
	summed := 0
	for _, m := range obs.many {
		summed += m.Busy
	}
	if s := obs.stats[0]; s.Busy != 3 || s.Rejected != 3 || summed != 3 || len(obs.rejected) != 0 {
		t.Fatalf("stats %+v, summed %d, reported one by one %+v", s, summed, obs.rejected)
	}
}
