package receiver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/tunnel/ngrokfake"
)

// Auto mode must never hold a job's submit up for long (issue 14): these
// tests point the real ngrok SDK at an ingress that swallows connections.

// blackHole is an ngrok agent ingress that accepts TCP connections and
// never answers, like a firewall that drops packets: the SDK's TLS
// handshake hangs until the agent gives up. It counts the connections.
func blackHole(t *testing.T) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int32)
	var (
		mu   sync.Mutex
		held []net.Conn
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			held = append(held, c) // read nothing, write nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	return ln.Addr().String(), conns
}

// blackHoleOptions are receiver options whose ngrok tunnel dials addr.
func blackHoleOptions(addr string, mode receiver.Mode, n *notices) receiver.Options {
	return receiver.Options{
		Mode:      mode,
		APIBase:   "https://modelslab.com", // not loopback: auto tries ngrok (nothing is sent there)
		Authtoken: goodToken,
		Notify:    n.add,
		Version:   "test",
		Tunnel: func(to *receiver.TunnelOptions) {
			to.AgentConnectURL = addr
			to.Heartbeat = testHeartbeat
		},
	}
}

// goroutineBaseline waits for the goroutines of earlier tests to end and
// returns how many are left.
func goroutineBaseline(t *testing.T) int {
	t.Helper()
	settle(t, -1)
	return runtime.NumGoroutine()
}

// settle waits up to 5 s until no goroutine runs ngrok or muxado code, no
// webhook listener serves, and (base >= 0) no more goroutines run than
// base; it fails the test with their stacks otherwise.
func settle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := sdkGoroutines()
		n := runtime.NumGoroutine()
		if len(left) == 0 && (base < 0 || n <= base) {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines left behind: %d running (baseline %d), %d of ngrok or a listener:\n%s\n\nall:\n%s",
				n, base, len(left), strings.Join(left, "\n\n"), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sdkGoroutines are the stacks of goroutines that run ngrok or muxado code
// or serve webhooks.
func sdkGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "golang.ngrok.com/") || strings.Contains(g, "mlab/internal/listener.(*Server).Serve") {
			out = append(out, g)
		}
	}
	return out
}

// TestAutoNgrokBlackHoleWithinBudget: a job command's auto mode with an
// authtoken gives up on an ngrok that does not answer within the auto
// budget (not the 15 s connect timeout), with one warning, and leaves
// nothing running.
func TestAutoNgrokBlackHoleWithinBudget(t *testing.T) {
	addr, conns := blackHole(t)
	base := goroutineBaseline(t)
	var n notices
	o := blackHoleOptions(addr, receiver.ModeAuto, &n)
	o.Fallback = receiver.FallbackPoll // ConnectTimeout 0: the 15 s default
	start := time.Now()
	rc, err := receiver.Open(context.Background(), o)
	took := time.Since(start)
	t.Logf("Open took %v", took)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if took > receiver.DefaultAutoBudget+time.Second {
		t.Fatalf("Open took %v: want at most the auto budget %v (+1s slack)", took, receiver.DefaultAutoBudget)
	}
	if rc.Mode != receiver.ModeNone || rc.Listening() || rc.URL != "" {
		t.Fatalf("receiver = %+v, want poll only", rc)
	}
	if conns.Load() == 0 {
		t.Fatal("auto mode never tried the ngrok ingress")
	}
	n.one(t, true, "ngrok was not up within 3s: submitting without a webhook; results come by watching the outputs and polling")
	if strings.Contains(n.get()[0].Text, goodToken) {
		t.Fatalf("the authtoken is in the notice: %q", n.get()[0].Text)
	}
	reg, err := rc.RegisterJob()
	if err != nil || reg.URL != "" || reg.Events != nil {
		t.Fatalf("RegisterJob = %+v, %v; want no webhook", reg, err)
	}
	reg.Unregister()
	rc.Close()
	settle(t, base)
	if got := n.get(); len(got) != 1 {
		t.Fatalf("notices after the attempt ended: %+v", got)
	}
}

// TestAutoNgrokLowerTimeoutWins: --tunnel-timeout below the auto budget
// bounds the attempt instead; a higher one does not lift the budget (the
// test above runs with the 15 s default).
func TestAutoNgrokLowerTimeoutWins(t *testing.T) {
	addr, _ := blackHole(t)
	base := goroutineBaseline(t)
	var n notices
	o := blackHoleOptions(addr, receiver.ModeAuto, &n)
	o.ConnectTimeout = 800 * time.Millisecond
	start := time.Now()
	rc := open(t, o)
	took := time.Since(start)
	t.Logf("Open took %v", took)
	if took > o.ConnectTimeout+time.Second {
		t.Fatalf("Open took %v with --tunnel-timeout %v", took, o.ConnectTimeout)
	}
	if rc.Mode != receiver.ModeNone {
		t.Fatalf("mode %s", rc.Mode)
	}
	n.one(t, true, "ngrok was not up within 800ms")
	rc.Close()
	settle(t, base)
}

// TestExplicitNgrokBlackHoleWaitsConnectTimeout: --tunnel ngrok keeps its
// own bound and fails (exit 4 in mlab) instead of polling.
func TestExplicitNgrokBlackHoleWaitsConnectTimeout(t *testing.T) {
	addr, conns := blackHole(t)
	base := goroutineBaseline(t)
	var n notices
	o := blackHoleOptions(addr, receiver.ModeNgrok, &n)
	o.ConnectTimeout = 1500 * time.Millisecond
	start := time.Now()
	rc, err := receiver.Open(context.Background(), o)
	took := time.Since(start)
	var te *receiver.TunnelError
	if rc != nil || !errors.As(err, &te) {
		t.Fatalf("Open = %+v, %v; want a *TunnelError", rc, err)
	}
	if took < o.ConnectTimeout || took > o.ConnectTimeout+1500*time.Millisecond {
		t.Fatalf("Open took %v, want the connect timeout %v (+ the SDK's grace)", took, o.ConnectTimeout)
	}
	if !strings.Contains(err.Error(), "could not reach ngrok within 1.5s") || conns.Load() == 0 {
		t.Fatalf("error %q after %d connections", err, conns.Load())
	}
	if got := n.get(); len(got) != 0 {
		t.Fatalf("notices %+v", got)
	}
	settle(t, base)
}

// TestListenAutoNgrokBlackHole: mlab listen's auto mode is not bounded by
// the auto budget, but by --tunnel-timeout, and then listens on loopback.
func TestListenAutoNgrokBlackHole(t *testing.T) {
	addr, _ := blackHole(t)
	base := goroutineBaseline(t)
	var n notices
	o := blackHoleOptions(addr, receiver.ModeAuto, &n)
	o.Fallback, o.ConnectTimeout = receiver.FallbackLoopback, 1500*time.Millisecond
	start := time.Now()
	rc := open(t, o)
	took := time.Since(start)
	if took < o.ConnectTimeout || took > o.ConnectTimeout+1500*time.Millisecond {
		t.Fatalf("Open took %v, want --tunnel-timeout %v (+ the SDK's grace)", took, o.ConnectTimeout)
	}
	if rc.Mode != receiver.ModeLocal || !rc.Listening() {
		t.Fatalf("receiver = %+v, want loopback", rc)
	}
	n.one(t, true, "ngrok tunnel unavailable (open ngrok tunnel: could not reach ngrok within 1.5s")
	rc.Close()
	settle(t, base)
}

// TestAutoNgrokLateTunnelIsClosed: a tunnel that comes up (here: routes)
// only after the budget, when the job went on without it, is closed as
// soon as it does, and says nothing more.
func TestAutoNgrokLateTunnelIsClosed(t *testing.T) {
	fake := ngrokfake.Start(t, ngrokfake.Options{ValidToken: goodToken})
	base := goroutineBaseline(t)
	var (
		n       notices
		probes  atomic.Int32
		release = make(chan struct{})
	)
	o := ngrokOptions(fake, receiver.ModeAuto, goodToken, &n)
	// The edge answers the readiness probe only when released, whatever the
	// probe's context says: the tunnel is up, but late.
	o.ReadyClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		probes.Add(1)
		select { // deaf to the probe's context, but not forever
		case <-release:
		case <-time.After(10 * time.Second):
		}
		return &http.Response{StatusCode: http.StatusMethodNotAllowed, Status: "405 Method Not Allowed",
			Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})}
	start := time.Now()
	rc := open(t, o)
	if took := time.Since(start); took > o.ConnectTimeout+time.Second {
		t.Fatalf("Open took %v, want the auto budget %v", took, o.ConnectTimeout)
	}
	if rc.Mode != receiver.ModeNone || probes.Load() != 1 {
		t.Fatalf("receiver %+v after %d probes", rc, probes.Load())
	}
	n.one(t, true, "ngrok was not up within 1s: submitting without a webhook")
	if len(fake.URLs()) != 1 {
		t.Fatalf("the pending tunnel: bound %v", fake.URLs())
	}
	close(release) // now it routes: too late
	unbound(t, fake)
	settle(t, base)
	if got := n.get(); len(got) != 1 {
		t.Fatalf("notices after the late tunnel: %+v", got)
	}
}
