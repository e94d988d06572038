package receiver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/listener"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/tunnel/ngrokfake"
)

// The tests run on loopback only; the ngrok ones go through the in-process
// fake ingress (internal/tunnel/ngrokfake).

// TestMain fails the package when a test left a webhook listener serving
// or a job's delivery copier running.
func TestMain(m *testing.M) {
	code := m.Run()
	if left := serveGoroutines(2 * time.Second); code == 0 && len(left) > 0 {
		fmt.Fprintf(os.Stderr, "%d receiver goroutines left behind:\n%s\n", len(left), strings.Join(left, "\n\n"))
		code = 1
	}
	os.Exit(code)
}

// serveGoroutines waits up to patience for the goroutines that serve
// webhooks or copy deliveries to end, and returns the stacks of those left.
func serveGoroutines(patience time.Duration) []string {
	deadline := time.Now().Add(patience)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var left []string
		for g := range strings.SplitSeq(stacks, "\n\n") {
			if strings.Contains(g, "mlab/internal/listener.(*Server).Serve") || strings.Contains(g, "mlab/internal/receiver.(*Receiver).RegisterJob") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// open opens a receiver and closes it when the test ends.
func open(t *testing.T, o receiver.Options) *receiver.Receiver {
	t.Helper()
	rc, err := receiver.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		rc.Close()
		select {
		case <-rc.Stopped():
		default:
			t.Errorf("a %s receiver still serves after Close", rc.Mode)
		}
	})
	return rc
}

// notices collects what the receiver would tell a person.
type notices struct {
	mu   sync.Mutex
	list []receiver.Notice
}

func (n *notices) add(x receiver.Notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, x)
}

func (n *notices) get() []receiver.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]receiver.Notice(nil), n.list...)
}

// one asserts exactly one notice, with that severity and containing want.
func (n *notices) one(t *testing.T, warn bool, want string) {
	t.Helper()
	got := n.get()
	if len(got) != 1 || got[0].Warn != warn || !strings.Contains(got[0].Text, want) {
		t.Fatalf("notices = %+v, want one (warn %v) containing %q", got, warn, want)
	}
}

func post(client *http.Client, url, body string) (int, error) {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func mustPost(t *testing.T, client *http.Client, url, body string, want int) {
	t.Helper()
	code, err := post(client, url, body)
	if err != nil || code != want {
		t.Fatalf("POST %s = %d, %v; want %d", url, code, err, want)
	}
}

// freeAddr is a loopback address nothing listens on (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestLocalMode(t *testing.T) {
	var rejected atomic.Int32
	var debug strings.Builder
	var debugMu sync.Mutex
	rc := open(t, receiver.Options{
		Mode:     receiver.ModeLocal,
		OnReject: func(listener.Rejection) { rejected.Add(1) },
		Debug: func(format string, a ...any) {
			debugMu.Lock()
			defer debugMu.Unlock()
			fmt.Fprintf(&debug, format+"\n", a...)
		},
	})
	if rc.Mode != receiver.ModeLocal || !rc.Listening() || !strings.HasPrefix(rc.URL, "http://127.0.0.1:") {
		t.Fatalf("receiver = %+v", rc)
	}
	if got := rc.WaitingFor(); got != "; waiting for its webhook (local) and polling as a fallback" {
		t.Fatalf("WaitingFor = %q", got)
	}
	reg, err := rc.RegisterJob()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(reg.URL, rc.URL+"/") || len(reg.URL) < len(rc.URL)+33 {
		t.Fatalf("job URL %q: want %s/<at least 128 random bits>", reg.URL, rc.URL)
	}

	body := `{"status":"success","id":42}`
	before := time.Now()
	mustPost(t, nil, reg.URL, body, http.StatusOK)
	select {
	case ev := <-reg.Events:
		if string(ev.Body) != body || ev.ReceivedAt.Before(before) {
			t.Fatalf("event = %q at %v", ev.Body, ev.ReceivedAt)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event for the delivery")
	}

	// Another token, a wrong method, and no token: rejected, and nothing
	// reaches the job.
	mustPost(t, nil, rc.URL+"/0123456789abcdef0123456789abcdef", body, http.StatusNotFound)
	mustPost(t, nil, rc.URL+"/", body, http.StatusNotFound)
	select {
	case ev := <-reg.Events:
		t.Fatalf("a foreign delivery reached the job: %q", ev.Body)
	default:
	}

	// Unregistered: the token is gone and the event channel is closed.
	reg.Unregister()
	reg.Unregister() // idempotent
	mustPost(t, nil, reg.URL, body, http.StatusNotFound)
	if _, ok := <-reg.Events; ok {
		t.Fatal("events not closed after Unregister")
	}
	if got := rejected.Load(); got != 3 {
		t.Fatalf("OnReject called %d times, want 3", got)
	}
	if acc, rej, drop := rc.Stats(); acc != 1 || rej != 3 || drop != 0 {
		t.Fatalf("Stats = %d accepted, %d rejected, %d dropped", acc, rej, drop)
	}
	debugMu.Lock()
	dbg := debug.String()
	debugMu.Unlock()
	if !strings.Contains(dbg, fmt.Sprintf("delivery of %d bytes", len(body))) || !strings.Contains(dbg, "answered 404 (not found)") {
		t.Fatalf("debug lines:\n%s", dbg)
	}

	// Closed: nothing listens any more.
	if rc.Err() != nil {
		t.Fatalf("Err while serving = %v", rc.Err())
	}
	rc.Close()
	rc.Close() // idempotent
	select {
	case <-rc.Stopped():
	default:
		t.Fatal("Stopped not closed after Close")
	}
	if err := rc.Err(); err == nil || err.Error() != "closed" {
		t.Fatalf("Err after Close = %v", err)
	}
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := post(fresh, reg.URL, body); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("POST after Close: %v, want connection refused", err)
	}
}

func TestRegisterFixedToken(t *testing.T) {
	rc := open(t, receiver.Options{Mode: receiver.ModeLocal, Buffer: 1})
	reg, err := rc.Register("fixed-token")
	if err != nil {
		t.Fatal(err)
	}
	if reg.Token != "fixed-token" || reg.URL != rc.URL+"/fixed-token" {
		t.Fatalf("registration = %+v", reg)
	}
	if _, err := rc.Register("fixed-token"); err == nil {
		t.Fatal("a token registered twice")
	}
	// Buffer 1: a second delivery while the first is queued is refused
	// (the sender may retry), never answered 200 and lost.
	mustPost(t, nil, reg.URL, `{"n":1}`, http.StatusOK)
	mustPost(t, nil, reg.URL, `{"n":2}`, http.StatusServiceUnavailable)
	if d := <-reg.Deliveries; string(d.Body) != `{"n":1}` || d.Token != "fixed-token" {
		t.Fatalf("delivery = %+v", d)
	}
	if acc, _, drop := rc.Stats(); acc != 1 || drop != 1 {
		t.Fatalf("Stats: %d accepted, %d dropped; want 1, 1", acc, drop)
	}
	reg.Unregister()
	if _, ok := <-reg.Deliveries; ok {
		t.Fatal("deliveries not closed after Unregister")
	}
}

func TestShutdownKeepsTokens(t *testing.T) {
	rc := open(t, receiver.Options{Mode: receiver.ModeLocal})
	reg, err := rc.Register("")
	if err != nil {
		t.Fatal(err)
	}
	rc.Shutdown()
	select {
	case <-rc.Stopped():
	case <-time.After(3 * time.Second):
		t.Fatal("Stopped not closed after Shutdown")
	}
	if rc.Err() == nil {
		t.Fatal("Err = nil after Shutdown")
	}
	// The token is still registered (the listen engine drains its queue).
	select {
	case _, ok := <-reg.Deliveries:
		t.Fatalf("deliveries closed or sent after Shutdown (ok %v)", ok)
	default:
	}
	reg.Unregister()
}

func TestNoneMode(t *testing.T) {
	rc := open(t, receiver.Options{Mode: receiver.ModeNone})
	if rc.Mode != receiver.ModeNone || rc.Listening() || rc.URL != "" {
		t.Fatalf("receiver = %+v", rc)
	}
	reg, err := rc.RegisterJob()
	if err != nil {
		t.Fatal(err)
	}
	if reg.URL != "" || reg.Events != nil {
		t.Fatalf("job registration = %+v, want no URL and no events", reg)
	}
	reg.Unregister()
	raw, err := rc.Register("any")
	if err != nil || raw.URL != "" || raw.Deliveries != nil {
		t.Fatalf("Register = %+v, %v", raw, err)
	}
	raw.Unregister()
	if got := rc.WaitingFor(); got != "; polling for the result" {
		t.Fatalf("WaitingFor = %q", got)
	}
	if acc, rej, drop := rc.Stats(); acc+rej+drop != 0 {
		t.Fatalf("Stats = %d %d %d", acc, rej, drop)
	}
	select {
	case <-rc.Stopped():
	default:
		t.Fatal("Stopped of a receiver without listener is not closed")
	}
	if rc.Err() != nil {
		t.Fatalf("Err = %v", rc.Err())
	}
	if err := rc.WaitReady(context.Background(), nil, time.Second); err == nil {
		t.Fatal("WaitReady without a listener succeeded")
	}
}

func TestAutoLoopbackAPIIsLocal(t *testing.T) {
	for _, api := range []string{"http://127.0.0.1:8765", "http://localhost:1234/api", "http://[::1]:80"} {
		var n notices
		// An authtoken is set, but the API on this machine needs no tunnel.
		rc := open(t, receiver.Options{APIBase: api, Authtoken: "unused", Notify: n.add})
		if rc.Mode != receiver.ModeLocal || !rc.Listening() {
			t.Fatalf("%s: mode %s, listening %v", api, rc.Mode, rc.Listening())
		}
		if got := n.get(); len(got) != 0 {
			t.Fatalf("%s: notices %+v", api, got)
		}
	}
}

func TestIsLoopbackURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://127.0.0.1:8765": true, "http://localhost": true, "https://[::1]/x": true, "http://127.1.2.3": true,
		"https://modelslab.com": false, "http://10.0.0.1": false, "http://localhost.example.com": false,
		"": false, "::not a url": false,
	} {
		if got := receiver.IsLoopbackURL(raw); got != want {
			t.Errorf("IsLoopbackURL(%q) = %v, want %v", raw, got, want)
		}
	}
}

func TestAutoWithoutAuthtoken(t *testing.T) {
	api := "https://modelslab.com"

	var n notices
	rc := open(t, receiver.Options{APIBase: api, Fallback: receiver.FallbackPoll, Notify: n.add})
	if rc.Mode != receiver.ModeNone || rc.Listening() {
		t.Fatalf("poll fallback: mode %s, listening %v", rc.Mode, rc.Listening())
	}
	n.one(t, false, "no ngrok authtoken")

	n = notices{}
	rc = open(t, receiver.Options{APIBase: api, Fallback: receiver.FallbackLoopback, Notify: n.add})
	if rc.Mode != receiver.ModeLocal || !rc.Listening() || !strings.HasPrefix(rc.URL, "http://127.0.0.1:") {
		t.Fatalf("loopback fallback: %+v", rc)
	}
	n.one(t, false, "listening on loopback")
	reg, err := rc.RegisterJob()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	mustPost(t, nil, reg.URL, `{"status":"success"}`, http.StatusOK)
	if ev := <-reg.Events; string(ev.Body) != `{"status":"success"}` {
		t.Fatalf("event %q", ev.Body)
	}

	// An explicit --listen address is loopback on purpose: no notice.
	n = notices{}
	addr := freeAddr(t)
	rc = open(t, receiver.Options{APIBase: api, ListenAddr: addr, Fallback: receiver.FallbackLoopback, Notify: n.add})
	if rc.Mode != receiver.ModeLocal || rc.URL != "http://"+addr {
		t.Fatalf("--listen: %+v", rc)
	}
	if got := n.get(); len(got) != 0 {
		t.Fatalf("--listen: notices %+v", got)
	}
}

func TestURLMode(t *testing.T) {
	for _, mode := range []receiver.Mode{receiver.ModeAuto, receiver.ModeURL} {
		addr := freeAddr(t)
		rc := open(t, receiver.Options{Mode: mode, ListenAddr: addr, PublicURL: "https://hooks.example.com/mlab/", APIBase: "http://127.0.0.1:1"})
		if rc.Mode != receiver.ModeURL || rc.URL != "https://hooks.example.com/mlab" || !rc.Listening() {
			t.Fatalf("%s: receiver = %+v", mode, rc)
		}
		reg, err := rc.RegisterJob()
		if err != nil {
			t.Fatal(err)
		}
		token, ok := strings.CutPrefix(reg.URL, "https://hooks.example.com/mlab/")
		if !ok || token == "" || strings.Contains(token, "/") {
			t.Fatalf("%s: job URL %q", mode, reg.URL)
		}
		// What the user's proxy forwards arrives on the local address,
		// under any prefix.
		mustPost(t, nil, "http://"+addr+"/mlab/"+token, `{"id":1}`, http.StatusOK)
		if ev := <-reg.Events; string(ev.Body) != `{"id":1}` {
			t.Fatalf("%s: event %q", mode, ev.Body)
		}
		reg.Unregister()
	}
}

func TestLocalErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, o := range []receiver.Options{
		{Mode: receiver.ModeLocal, ListenAddr: busy.Addr().String()},
		{Mode: receiver.ModeLocal, ListenAddr: "not an address"},
		{Mode: receiver.ModeURL, ListenAddr: busy.Addr().String(), PublicURL: "https://hooks.example.com"},
		{Mode: receiver.ModeURL},                          // no public URL
		{Mode: receiver.ModeURL, PublicURL: "ftp://x/?q"}, // not one mlab can append a token to
		{Mode: receiver.ModeAuto, ListenAddr: busy.Addr().String(), Fallback: receiver.FallbackLoopback},
	} {
		rc, err := receiver.Open(context.Background(), o)
		var le *receiver.LocalError
		if rc != nil || !errors.As(err, &le) || le.Unwrap() == nil || le.Error() != le.Err.Error() {
			t.Errorf("%+v: Open = %v, %v; want a *LocalError", o, rc, err)
			rc.Close()
		}
	}
}

func TestNgrokWithoutAuthtoken(t *testing.T) {
	for _, token := range []string{"", "  "} {
		rc, err := receiver.Open(context.Background(), receiver.Options{Mode: receiver.ModeNgrok, Authtoken: token})
		if rc != nil || !errors.Is(err, receiver.ErrNoAuthtoken) {
			t.Fatalf("token %q: Open = %v, %v; want ErrNoAuthtoken", token, rc, err)
		}
	}
}

func TestParseModeAndPublicURL(t *testing.T) {
	for in, want := range map[string]receiver.Mode{"": receiver.ModeAuto, "ngrok": receiver.ModeNgrok, "none": receiver.ModeNone} {
		if got, err := receiver.ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := receiver.ParseMode("carrier-pigeon"); err == nil {
		t.Error("ParseMode accepted carrier-pigeon")
	}
	if got, err := receiver.ValidatePublicURL(" https://x.example/h/ "); err != nil || got != "https://x.example/h" {
		t.Errorf("ValidatePublicURL = %q, %v", got, err)
	}
}

// The ngrok tests below go through the fake ingress.

const (
	goodToken = "2abcNGROKgood_0123456789"
	badToken  = "2abcNGROKbad_SECRET_0123456789"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// edge is an HTTP client that reaches the tunnel the way ngrok's edge would,
// counting the readiness probes (GETs) it carries.
func edge(fake *ngrokfake.Fake, probes *atomic.Int32, answer404 bool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodGet {
			probes.Add(1)
			if answer404 { // an edge that does not route yet
				return &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found",
					Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
			}
		}
		return fake.Do(r)
	})}
}

func ngrokOptions(fake *ngrokfake.Fake, mode receiver.Mode, token string, n *notices) receiver.Options {
	return receiver.Options{
		Mode:           mode,
		APIBase:        "https://modelslab.com",
		Authtoken:      token,
		ConnectTimeout: time.Second,
		Notify:         n.add,
		Version:        "test",
		Tunnel: func(to *receiver.TunnelOptions) {
			to.AgentConnectURL = fake.Addr()
			to.AgentConnectCAs = fake.CAPool()
			to.Heartbeat = testHeartbeat
		},
	}
}

// unbound waits until the fake ingress has no endpoint bound any more (the
// agent disconnected).
func unbound(t *testing.T, fake *ngrokfake.Fake) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for len(fake.URLs()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the tunnel is still bound: %v", fake.URLs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testHeartbeat keeps muxado's heartbeat goroutines, which notice a closed
// session only at their next tick, from outliving a test by 10 s.
const testHeartbeat = 200 * time.Millisecond

func TestNgrokFailedStart(t *testing.T) {
	fake := ngrokfake.Start(t, ngrokfake.Options{ValidToken: goodToken})

	// Explicit ngrok: the tunnel's error, with ngrok's code and a hint, and
	// never the token.
	var n notices
	start := time.Now()
	rc, err := receiver.Open(context.Background(), ngrokOptions(fake, receiver.ModeNgrok, badToken, &n))
	var te *receiver.TunnelError
	if rc != nil || !errors.As(err, &te) {
		t.Fatalf("Open = %v, %v; want a *TunnelError", rc, err)
	}
	if te.Code != "ERR_NGROK_105" || te.Hint == "" || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("error = %q (code %q, hint %q)", err, te.Code, te.Hint)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("Open took %v with a 1s connect timeout", d)
	}
	if got := n.get(); len(got) != 0 {
		t.Fatalf("notices %+v", got)
	}

	// listen's auto mode: a warning, and a loopback receiver instead.
	n = notices{}
	o := ngrokOptions(fake, receiver.ModeAuto, badToken, &n)
	o.Fallback = receiver.FallbackLoopback
	rc = open(t, o)
	if rc.Mode != receiver.ModeLocal || !rc.Listening() || !strings.HasPrefix(rc.URL, "http://127.0.0.1:") {
		t.Fatalf("auto, loopback fallback: %+v", rc)
	}
	n.one(t, true, "ngrok tunnel unavailable (open ngrok tunnel: the ngrok authtoken is malformed")
	if strings.Contains(n.get()[0].Text, "SECRET") {
		t.Fatalf("token in the notice: %q", n.get()[0].Text)
	}

	// A job command's auto mode: polling, with one warning, within the
	// auto budget. The SDK retries a bad token until the connect bound; the
	// warning names ngrok's reason when it had one by then.
	n = notices{}
	o.Fallback, o.ConnectTimeout = receiver.FallbackPoll, 0
	start = time.Now()
	rc = open(t, o)
	if d := time.Since(start); d > receiver.DefaultAutoBudget+time.Second {
		t.Fatalf("auto, poll fallback: Open took %v, want at most the auto budget (%v)", d, receiver.DefaultAutoBudget)
	}
	if rc.Mode != receiver.ModeNone || rc.Listening() {
		t.Fatalf("auto, poll fallback: %+v", rc)
	}
	n.one(t, true, "ngrok was not up within 3s")
	n.one(t, true, "submitting without a webhook; results come by watching the outputs and polling")
	if txt := n.get()[0].Text; strings.Contains(txt, "SECRET") {
		t.Fatalf("token in the notice: %q", txt)
	} else if !strings.Contains(txt, "(the ngrok authtoken is malformed, ERR_NGROK_105)") {
		t.Logf("the notice did not name ngrok's reason in time: %q", txt)
	}
}

// TestAutoNgrokRefusedAtOnce: a tunnel that ngrok refuses at once (the
// free plan's one dev domain already online in another mlab) falls back
// at once, naming the reason.
func TestAutoNgrokRefusedAtOnce(t *testing.T) {
	fake := ngrokfake.Start(t, ngrokfake.Options{BindError: "The endpoint 'https://mlab.ngrok-fake.test' is already online.\n\nERR_NGROK_334\n"})
	var n notices
	o := ngrokOptions(fake, receiver.ModeAuto, goodToken, &n)
	start := time.Now()
	rc := open(t, o)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Open took %v for a refused tunnel", d)
	}
	if rc.Mode != receiver.ModeNone || rc.Listening() {
		t.Fatalf("receiver = %+v", rc)
	}
	n.one(t, true, "ngrok tunnel unavailable (the ngrok URL is already online in another session, ERR_NGROK_334): submitting without a webhook")
}

func TestNgrokCancelledWhileConnecting(t *testing.T) {
	fake := ngrokfake.Start(t, ngrokfake.Options{HoldBind: true})
	for _, fb := range []receiver.Fallback{receiver.FallbackPoll, receiver.FallbackLoopback} {
		for _, mode := range []receiver.Mode{receiver.ModeNgrok, receiver.ModeAuto} {
			var n notices
			o := ngrokOptions(fake, mode, goodToken, &n)
			o.ConnectTimeout, o.Fallback = 10*time.Second, fb
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			rc, err := receiver.Open(ctx, o)
			cancel()
			if rc != nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s/%d: Open = %+v, %v; want the context's error", mode, fb, rc, err)
			}
		}
	}
}

func TestNgrokOpenAndReady(t *testing.T) {
	fake := ngrokfake.Start(t, ngrokfake.Options{ValidToken: goodToken})
	for _, fb := range []receiver.Fallback{receiver.FallbackPoll, receiver.FallbackLoopback} {
		var n notices
		var probes atomic.Int32
		o := ngrokOptions(fake, receiver.ModeAuto, goodToken, &n)
		o.Fallback, o.ReadyClient = fb, edge(fake, &probes, false)
		rc := open(t, o)
		if rc.Mode != receiver.ModeNgrok || !rc.Listening() || !strings.HasSuffix(rc.URL, ".ngrok-fake.test") {
			t.Fatalf("fallback %d: receiver = %+v", fb, rc)
		}
		if probes.Load() == 0 {
			t.Fatalf("fallback %d: Open did not probe the fresh URL", fb)
		}
		if got := n.get(); len(got) != 0 {
			t.Fatalf("fallback %d: notices %+v", fb, got)
		}
		reg, err := rc.RegisterJob()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(reg.URL, rc.URL+"/") {
			t.Fatalf("job URL %q", reg.URL)
		}
		mustPost(t, o.ReadyClient, reg.URL, `{"status":"success","id":7}`, http.StatusOK)
		select {
		case ev := <-reg.Events:
			if string(ev.Body) != `{"status":"success","id":7}` {
				t.Fatalf("event %q", ev.Body)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the delivery through the tunnel never arrived")
		}
		reg.Unregister()
		rc.Close()
	}
}

func TestNgrokSkipReadyThenWaitReady(t *testing.T) {
	fake := ngrokfake.Start(t, ngrokfake.Options{ValidToken: goodToken})
	var probes atomic.Int32
	o := ngrokOptions(fake, receiver.ModeNgrok, goodToken, &notices{})
	o.SkipReady, o.ReadyClient = true, edge(fake, &probes, false)
	rc := open(t, o)
	if rc.Mode != receiver.ModeNgrok || probes.Load() != 0 {
		t.Fatalf("SkipReady: mode %s, %d probes", rc.Mode, probes.Load())
	}
	if err := rc.WaitReady(context.Background(), o.ReadyClient, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if probes.Load() == 0 {
		t.Fatal("WaitReady sent no probe")
	}
}

func TestNgrokNotRoutable(t *testing.T) {
	fake := ngrokfake.Start(t, ngrokfake.Options{ValidToken: goodToken})

	// A job command polls instead, with a warning.
	var n notices
	var probes atomic.Int32
	o := ngrokOptions(fake, receiver.ModeAuto, goodToken, &n)
	o.ConnectTimeout, o.ReadyClient = 500*time.Millisecond, edge(fake, &probes, true)
	rc := open(t, o)
	if rc.Mode != receiver.ModeNone || rc.Listening() || probes.Load() == 0 {
		t.Fatalf("poll fallback: %+v after %d probes", rc, probes.Load())
	}
	n.one(t, true, "ngrok was not up within 500ms")
	n.one(t, true, "submitting without a webhook")
	if txt := n.get()[0].Text; !strings.Contains(txt, "(the tunnel opened but its URL did not route yet)") {
		t.Logf("the notice did not say why in time: %q", txt)
	}
	unbound(t, fake)

	// Explicit ngrok probes for ConnectTimeout, then polls with a warning.
	n = notices{}
	o.Mode = receiver.ModeNgrok
	rc = open(t, o)
	if rc.Mode != receiver.ModeNone || rc.Listening() {
		t.Fatalf("explicit ngrok: %+v", rc)
	}
	n.one(t, true, "not routable yet")
	n.one(t, true, "polling for results")

	// listen keeps the tunnel and warns that deliveries may fail for a moment.
	n = notices{}
	o.Fallback = receiver.FallbackLoopback
	rc = open(t, o)
	if rc.Mode != receiver.ModeNgrok || !rc.Listening() {
		t.Fatalf("loopback fallback: %+v", rc)
	}
	n.one(t, true, "deliveries may fail for a moment")
}

// TestDebugQuotesRejectedPaths: a rejected path is anyone's; the --debug
// line quotes and clips it (issue 13: raw escape sequences reached stderr).
func TestDebugQuotesRejectedPaths(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	rc, err := receiver.Open(context.Background(), receiver.Options{Mode: receiver.ModeLocal, Debug: func(format string, a ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(format, a...))
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	resp, err := http.Post(rc.URL+"/%1b%5b2J"+strings.Repeat("a", 500), "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 1 || strings.Contains(lines[0], "\x1b") || !strings.Contains(lines[0], `\x1b[2J`) || len(lines[0]) > 300 {
		t.Fatalf("debug lines %q", lines)
	}
}
