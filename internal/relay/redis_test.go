package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mlabcli/mlab/internal/ids"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/listener"
	"github.com/redis/go-redis/v9"
)

// served is a relay behind an httptest server (loopback).
type served struct {
	*Relay
	srv *httptest.Server
}

// serveRelay starts a relay on b behind a loopback server; with public
// set, the relay advertises that URL instead of its own.
func serveRelay(t *testing.T, b Broker, o Options) *served {
	t.Helper()
	s := &served{}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.Relay.ServeHTTP(w, r) })
	s.srv = httptest.NewServer(h)
	t.Cleanup(s.srv.Close)
	o.Broker = b
	if o.PublicURL == "" {
		o.PublicURL = s.srv.URL
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Relay = r
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return s
}

var client = &http.Client{Timeout: 15 * time.Second}

func post(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func recv(t *testing.T, ch <-chan job.Event, d time.Duration) job.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("events closed")
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no event within %s", d)
	}
	return job.Event{}
}

func noEvent(t *testing.T, ch <-chan job.Event, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("unexpected event %s", ev.Body)
		}
	case <-time.After(d):
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	var stored atomic.Int64
	rl := serveRelay(t, b, Options{OnStored: func(Delivery) { stored.Add(1) }})
	w := NewWaiter(b, WaiterOptions{})
	ctx := t.Context()
	reg, err := w.Register(ctx, "", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	if reg.URL != rl.srv.URL+"/"+reg.Token || reg.Relay.ID != rl.Info().ID {
		t.Fatalf("URL %s relay %+v", reg.URL, reg.Relay)
	}
	ttl := b.Client().PTTL(ctx, b.tokenKey(reg.Token)).Val()
	if ttl < 50*time.Second || ttl > time.Minute {
		t.Fatalf("registration TTL %s, want about a minute", ttl)
	}
	before := time.Now()
	body := `{"status":"success","id":1,"output":["https://x/1.png"]}`
	if st := post(t, reg.URL, body); st != 200 {
		t.Fatalf("POST answered %d", st)
	}
	ev := recv(t, reg.Events, 5*time.Second)
	if string(ev.Body) != body || ev.ReceivedAt.Before(before.Add(-time.Second)) {
		t.Fatalf("event %s at %s", ev.Body, ev.ReceivedAt)
	}
	noEvent(t, reg.Events, 200*time.Millisecond)
	if n := b.Client().XLen(ctx, b.streamKey(reg.Token)).Val(); n != 1 {
		t.Fatalf("stream holds %d entries", n)
	}
	if ttl := b.Client().PTTL(ctx, b.streamKey(reg.Token)).Val(); ttl < 23*time.Hour {
		t.Fatalf("stream TTL %s, want a day", ttl)
	}
	if rl.Stats().Stored != 1 || stored.Load() != 1 {
		t.Fatalf("stats %+v, OnStored %d", rl.Stats(), stored.Load())
	}
	// GET is a readiness probe for a registered token.
	resp, err := client.Get(reg.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp, err)
	}
	resp.Body.Close()
	reg.Unregister()
	if n := b.Client().Exists(ctx, b.tokenKey(reg.Token), b.streamKey(reg.Token), b.seenKey(reg.Token)).Val(); n != 0 {
		t.Fatalf("%d keys left after Unregister", n)
	}
	if _, ok := <-reg.Events; ok {
		t.Fatal("events open after Unregister")
	}
	if st := post(t, reg.URL, body); st != 404 {
		t.Fatalf("POST after Unregister answered %d", st)
	}
}

func TestAppendIdempotent(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	ctx := t.Context()
	tok := ids.Token()
	if err := b.Register(ctx, tok, time.Minute); err != nil {
		t.Fatal(err)
	}
	d := Delivery{Token: tok, ID: "d1", ReceivedAt: time.Now(), RelayID: "r", Body: []byte(`{}`)}
	id1, err := b.Append(ctx, d, "")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := b.Append(ctx, d, "")
	if err != nil || id2 != id1 {
		t.Fatalf("second append: %q %v, want %q", id2, err, id1)
	}
	ds, err := b.Read(ctx, tok, "0", 0)
	if err != nil || len(ds) != 1 || ds[0].Entry != id1 || ds[0].ID != "d1" || ds[0].RelayID != "r" {
		t.Fatalf("read %+v %v", ds, err)
	}
	// A --stream key that is not a stream: an error, and nothing stored
	// in the token's stream either (all or nothing).
	bad := b.Prefix() + "not-a-stream"
	b.Client().Set(ctx, bad, "x", time.Minute)
	if _, err := b.Append(ctx, Delivery{Token: tok, ID: "d2", ReceivedAt: time.Now(), Body: []byte(`{}`)}, bad); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("append to a string key: %v", err)
	}
	if n := b.Client().XLen(ctx, b.streamKey(tok)).Val(); n != 1 {
		t.Fatalf("token stream holds %d entries after a failed append", n)
	}
	// Bounded: MAXLEN ~ keeps the stream near its cap.
	for i := range 400 {
		if _, err := b.Append(ctx, Delivery{Token: tok, ID: fmt.Sprint(i), ReceivedAt: time.Now(), Body: []byte(`{}`)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Client().XLen(ctx, b.streamKey(tok)).Val(); n < DefaultStreamMaxLen || n > 2*DefaultStreamMaxLen+100 {
		t.Fatalf("stream holds %d entries after 401 appends", n)
	}
}

func TestUnregisteredToken(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	var rejects []int
	var mu sync.Mutex
	rl := serveRelay(t, b, Options{MaxBody: 1 << 10, OnReject: func(r listener.Rejection) {
		mu.Lock()
		rejects = append(rejects, r.Status)
		mu.Unlock()
	}})
	ctx := t.Context()
	tok := ids.Token()
	if st := post(t, rl.srv.URL+"/"+tok, `{"status":"success"}`); st != 404 {
		t.Fatalf("unregistered token answered %d", st)
	}
	n, _ := b.Client().Exists(ctx, b.streamKey(tok), b.seenKey(tok), b.tokenKey(tok)).Result()
	if n != 0 {
		t.Fatalf("%d keys stored for an unregistered token", n)
	}
	if st := post(t, rl.srv.URL+"/", `{}`); st != 404 {
		t.Fatalf("no token answered %d", st)
	}
	// The listener's limits, for a registered token.
	if err := b.Register(ctx, tok, time.Minute); err != nil {
		t.Fatal(err)
	}
	if st := post(t, rl.srv.URL+"/"+tok, `not json`); st != 400 {
		t.Fatalf("non-JSON answered %d", st)
	}
	if st := post(t, rl.srv.URL+"/"+tok, `"a scalar"`); st != 400 {
		t.Fatalf("a JSON scalar answered %d", st)
	}
	if st := post(t, rl.srv.URL+"/"+tok, `{"x":"`+strings.Repeat("a", 2000)+`"}`); st != 413 {
		t.Fatalf("too big answered %d", st)
	}
	req, _ := http.NewRequest(http.MethodPut, rl.srv.URL+"/"+tok, strings.NewReader(`{}`))
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 405 {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	resp.Body.Close()
	if n := b.Client().Exists(ctx, b.streamKey(tok)).Val(); n != 0 {
		t.Fatal("a rejected request was stored")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(rejects, []int{404, 404, 400, 400, 413, 405}) {
		t.Fatalf("rejections %v", rejects)
	}
	if s := rl.Stats(); s.NotFound != 2 || s.Rejected != 4 || s.Stored != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRedisDownAtDelivery(t *testing.T) {
	t.Parallel()
	const pw = "s3cret-pw"
	srv := startRedis(t, "--requirepass", pw)
	b := newBroker(t, "redis://:"+pw+"@"+srv.Addr()+"/0")
	var errs []error
	var mu sync.Mutex
	rl := serveRelay(t, b, Options{StoreTimeout: 2 * time.Second, OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}})
	ctx := t.Context()
	tok := ids.Token()
	if err := b.Register(ctx, tok, time.Minute); err != nil {
		t.Fatal(err)
	}
	if st := post(t, rl.srv.URL+"/"+tok, `{"n":1}`); st != 200 {
		t.Fatalf("up: %d", st)
	}
	srv.Kill()
	start := time.Now()
	resp, err := client.Post(rl.srv.URL+"/"+tok, "application/json", strings.NewReader(`{"n":2}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "try again") {
		t.Fatalf("down: %d %q %s", resp.StatusCode, resp.Header, body)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("503 took %s", el)
	}
	mu.Lock()
	if len(errs) != 1 {
		t.Fatalf("OnError told %d times", len(errs))
	}
	var re *RedisError
	if msg := errs[0].Error(); strings.Contains(msg, pw) || !errors.As(errs[0], &re) || !strings.Contains(msg, "503") {
		t.Fatalf("error %q", msg)
	}
	mu.Unlock()
	if s := rl.Stats(); s.Failed != 1 || s.Stored != 1 {
		t.Fatalf("stats %+v", s)
	}
	// A relay whose Redis is a closed port: Start fails, Accept says 503.
	closed := newBroker(t, "redis://:"+pw+"@"+srv.Addr()+"/0")
	r2, _ := New(Options{Broker: closed, PublicURL: "http://127.0.0.1:1"})
	if err := r2.Start(ctx); err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "redis-cli") {
		t.Fatalf("Start on a closed port: %v", err)
	}
	if st, err := r2.Accept(ctx, tok, []byte(`{}`), time.Now()); st != 503 || err == nil || strings.Contains(err.Error(), pw) {
		t.Fatalf("Accept on a closed port: %d %v", st, err)
	}
	// The token comes from the request path (percent-decoded): its prefix
	// in the message is never a terminal control (found in review).
	if st, err := r2.Accept(ctx, "\x1b[2J\x07é", []byte(`{}`), time.Now()); st != 503 || err == nil || strings.ContainsAny(err.Error(), "\x1b\x07") || !utf8.ValidString(err.Error()) {
		t.Fatalf("Accept of a hostile token: %d %q", st, err)
	}
}

func TestRedisHungAtDelivery(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	b := newBroker(t, "redis://"+srv.Addr()+"/0")
	rl := serveRelay(t, b, Options{StoreTimeout: time.Second})
	reg, err := NewWaiter(b, WaiterOptions{Block: 300 * time.Millisecond}).Register(t.Context(), "", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	srv.Signal(syscall.SIGSTOP) // accepts connections, answers nothing
	start := time.Now()
	if st := post(t, reg.URL, `{"n":1}`); st != 503 {
		t.Fatalf("hung Redis: %d", st)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("503 after %s, want about StoreTimeout (1s)", el)
	}
	srv.Signal(syscall.SIGCONT)
	eventually(t, 10*time.Second, "stored once Redis answers again", func() bool { return post(t, reg.URL, `{"n":2}`) == 200 })
	// The 503'd delivery may have been stored (the script ran once Redis
	// woke up): the sender's retry and job.Wait's dedupe cover that. The
	// one answered 200 is there.
	for {
		ev := recv(t, reg.Events, 5*time.Second)
		if string(ev.Body) == `{"n":2}` {
			break
		}
	}
	if rl.Stats().Failed != 1 {
		t.Fatalf("stats %+v", rl.Stats())
	}
}

func TestWaiterKilledResumes(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	rl := serveRelay(t, b, Options{})
	wctx, kill := context.WithCancel(t.Context())
	first, err := NewWaiter(b, WaiterOptions{}).Register(wctx, "", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	kill() // the runner is gone: nothing unregisters its token
	if _, ok := <-first.Events; ok {
		t.Fatal("events after the kill")
	}
	body := `{"status":"success","late":true}`
	if st := post(t, rl.srv.URL+"/"+first.Token, body); st != 200 {
		t.Fatalf("webhook for the killed waiter's token answered %d", st)
	}
	// mlab wait ID: another process, another connection, the journal's token.
	b2, err := OpenRedis("redis://"+testRedis+"/0", RedisOptions{Prefix: b.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	again, err := NewWaiter(b2, WaiterOptions{}).Register(t.Context(), first.Token, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Unregister()
	if ev := recv(t, again.Events, 5*time.Second); string(ev.Body) != body {
		t.Fatalf("resumed wait got %s", ev.Body)
	}
	// With no live relay any more, mlab wait still finds what is stored.
	rl.Stop()
	late, err := NewWaiter(b2, WaiterOptions{}).Resume(t.Context(), first.Token, time.Now().Add(time.Minute))
	if err != nil || late.URL != "" {
		t.Fatalf("Resume without a relay: %v %q", err, late.URL)
	}
	if ev := recv(t, late.Events, 5*time.Second); string(ev.Body) != body {
		t.Fatalf("resumed without a relay: %s", ev.Body)
	}
	late.Close()
	// What comes later flows too.
	if st := post(t, again.URL, `{"n":2}`); st != 200 {
		t.Fatal(st)
	}
	if ev := recv(t, again.Events, 5*time.Second); string(ev.Body) != `{"n":2}` {
		t.Fatalf("then %s", ev.Body)
	}
}

func TestCloseIsPromptDuringBlockedRead(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	serveRelay(t, b, Options{})
	reg, err := NewWaiter(b, WaiterOptions{Block: 10 * time.Second}).Register(t.Context(), "", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // in XREAD BLOCK 10000
	start := time.Now()
	reg.Close()
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Fatalf("Close took %s", el)
	}
	if _, ok := <-reg.Events; ok {
		t.Fatal("events open after Close")
	}
	select { // the XREAD BLOCK was unblocked: its connection is free
	case <-reg.reader:
	case <-time.After(time.Second):
		t.Fatal("the reader still blocks a second after Close")
	}
	if ok, _ := b.Registered(t.Context(), reg.Token); !ok {
		t.Fatal("Close unregistered the token")
	}
	if err := reg.Keep(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl := b.Client().PTTL(t.Context(), b.tokenKey(reg.Token)).Val(); ttl < 59*time.Minute {
		t.Fatalf("Keep: TTL %s", ttl)
	}
}

func TestNoRelay(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	_, err := NewWaiter(b, WaiterOptions{}).Register(t.Context(), "", time.Now().Add(time.Minute))
	if !errors.Is(err, ErrNoRelay) {
		t.Fatalf("got %v, want ErrNoRelay", err)
	}
	// A relay that stopped cleanly withdraws its heartbeat at once.
	rl := serveRelay(t, b, Options{})
	if rs, _ := b.Relays(t.Context()); len(rs) != 1 || rs[0].ID != rl.Info().ID || rs[0].URL != rl.srv.URL {
		t.Fatalf("relays %+v", rs)
	}
	rl.Stop()
	if rs, _ := b.Relays(t.Context()); len(rs) != 0 {
		t.Fatalf("relays after Stop %+v", rs)
	}
	if _, err := NewWaiter(b, WaiterOptions{}).Register(t.Context(), "", time.Now().Add(time.Minute)); !errors.Is(err, ErrNoRelay) {
		t.Fatalf("after Stop: %v", err)
	}
}

func TestTwoRelaysOneURL(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	// The one public URL: a proxy that sends to relay A while it lives,
	// then to B (what a load balancer does once A fails its checks).
	var aDown atomic.Bool
	var a, bb *Relay
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if aDown.Load() {
			bb.ServeHTTP(w, r)
			return
		}
		a.ServeHTTP(w, r)
	}))
	defer front.Close()
	ttl := 900 * time.Millisecond
	mk := func(id string) *Relay {
		r, err := New(Options{Broker: b, PublicURL: front.URL, ID: id, HeartbeatTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Stop)
		return r
	}
	a, bb = mk("relay-a"), mk("relay-b")
	rs, _ := b.Relays(t.Context())
	if len(rs) != 2 {
		t.Fatalf("relays %+v", rs)
	}
	w := NewWaiter(b, WaiterOptions{Block: time.Second})
	send := func(n int) {
		reg, err := w.Register(t.Context(), "", time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Unregister()
		if reg.URL != front.URL+"/"+reg.Token {
			t.Fatalf("URL %s", reg.URL)
		}
		body := fmt.Sprintf(`{"n":%d}`, n)
		if st := post(t, reg.URL, body); st != 200 {
			t.Fatalf("delivery %d answered %d", n, st)
		}
		if ev := recv(t, reg.Events, 5*time.Second); string(ev.Body) != body {
			t.Fatalf("got %s", ev.Body)
		}
	}
	send(1)
	// A is killed: no withdrawal, its heartbeat just stops.
	a.halt()
	aDown.Store(true)
	send(2) // before A's heartbeat expired
	eventually(t, 3*ttl, "A's heartbeat expires", func() bool {
		rs, _ := b.Relays(t.Context())
		return len(rs) == 1 && rs[0].ID == "relay-b"
	})
	for i := range 5 {
		send(3 + i)
	}
	if a.Stats().Stored != 1 || bb.Stats().Stored != 6 {
		t.Fatalf("A stored %d, B %d", a.Stats().Stored, bb.Stats().Stored)
	}
}

func TestRedisRestartMidRun(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	b := newBroker(t, "redis://"+srv.Addr()+"/0")
	var hb []error
	var mu sync.Mutex
	rl := serveRelay(t, b, Options{HeartbeatTTL: 900 * time.Millisecond, StoreTimeout: time.Second, OnHeartbeat: func(err error) {
		mu.Lock()
		hb = append(hb, err)
		mu.Unlock()
	}})
	var notes []string
	var failures atomic.Int64
	w := NewWaiter(b, WaiterOptions{Block: 300 * time.Millisecond,
		OnError: func(error) { failures.Add(1) },
		Notify: func(s string) {
			mu.Lock()
			notes = append(notes, s)
			mu.Unlock()
		}})
	reg, err := w.Register(t.Context(), "", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	if st := post(t, reg.URL, `{"n":1}`); st != 200 {
		t.Fatal(st)
	}
	recv(t, reg.Events, 5*time.Second)

	srv.Kill()
	if st := post(t, reg.URL, `{"n":2}`); st != 503 {
		t.Fatalf("Redis down: %d", st)
	}
	eventually(t, 5*time.Second, "the waiter sees the failure", func() bool { return failures.Load() > 0 })
	// A job that starts now gets the broker's error at once (it polls).
	start := time.Now()
	var re *RedisError
	if _, err := w.Register(t.Context(), "", time.Now().Add(time.Minute)); !errors.As(err, &re) || time.Since(start) > 2*time.Second {
		t.Fatalf("Register with Redis down: %v after %s", err, time.Since(start))
	}
	time.Sleep(time.Second) // the relay's heartbeat fails too
	srv.Restart(t)          // empty: no persistence

	// The relay advertises again; the waiter registers its token again;
	// deliveries flow once both happened.
	eventually(t, 10*time.Second, "a delivery is stored after the restart", func() bool {
		return post(t, reg.URL, `{"n":3}`) == 200
	})
	if ev := recv(t, reg.Events, 5*time.Second); string(ev.Body) != `{"n":3}` {
		t.Fatalf("after the restart: %s", ev.Body)
	}
	eventually(t, 5*time.Second, "the relay's heartbeat is back", func() bool {
		rs, _ := b.Relays(t.Context())
		return len(rs) == 1 && rs[0].ID == rl.Info().ID
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(notes, func(s string) bool { return strings.Contains(s, "registered again") }) {
		t.Fatalf("notices %q", notes)
	}
	if len(hb) == 0 || hb[0] == nil || hb[len(hb)-1] != nil {
		t.Fatalf("heartbeat reports %v: want failing, then nil", hb)
	}
}

func TestStreamConsumerGroup(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	stream := b.Prefix() + "user-stream"
	rl := serveRelay(t, b, Options{Stream: stream})
	ctx := t.Context()
	c := b.Client()
	if err := c.XGroupCreateMkStream(ctx, stream, "workers", "$").Err(); err != nil {
		t.Fatal(err)
	}
	const tokens, per = 30, 3
	want := map[string]bool{}
	for i := range tokens {
		tok := ids.Token()
		if err := b.Register(ctx, tok, time.Minute); err != nil {
			t.Fatal(err)
		}
		for j := range per {
			body := fmt.Sprintf(`{"token":%d,"n":%d}`, i, j)
			want[body] = true
			if st := post(t, rl.srv.URL+"/"+tok, body); st != 200 {
				t.Fatal(st)
			}
		}
	}
	// An unregistered token reaches neither stream.
	post(t, rl.srv.URL+"/"+ids.Token(), `{"stray":true}`)

	var mu sync.Mutex
	got := map[string]int{}
	byConsumer := map[string]int{}
	var wg sync.WaitGroup
	for k := range 3 {
		name := fmt.Sprintf("c%d", k)
		wg.Go(func() {
			idle := 0
			for idle < 3 {
				res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "workers", Consumer: name,
					Streams: []string{stream, ">"}, Count: 4, Block: 200 * time.Millisecond}).Result()
				if errors.Is(err, redis.Nil) {
					idle++
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				idle = 0
				for _, s := range res {
					for _, d := range Deliveries(s.Messages) {
						if d.Token == "" || d.Entry == "" || d.ReceivedAt.IsZero() || d.RelayID != rl.Info().ID {
							t.Errorf("entry %+v", d)
						}
						mu.Lock()
						got[string(d.Body)]++
						byConsumer[name]++
						mu.Unlock()
						c.XAck(ctx, stream, "workers", d.Entry)
					}
				}
				time.Sleep(5 * time.Millisecond) // let the others take a share
			}
		})
	}
	wg.Wait()
	if len(got) != len(want) {
		t.Fatalf("%d distinct deliveries read, want %d", len(got), len(want))
	}
	for body, n := range got {
		if !want[body] || n != 1 {
			t.Fatalf("%s read %d times", body, n)
		}
	}
	if len(byConsumer) != 3 {
		t.Errorf("shares %v: want all 3 consumers to read some", byConsumer)
	}
	if p := c.XPending(ctx, stream, "workers").Val(); p.Count != 0 {
		t.Fatalf("%d pending after XACK", p.Count)
	}
	t.Logf("shares %v", byConsumer)
}

func TestManyConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	rl := serveRelay(t, b, Options{})
	w := NewWaiter(b, WaiterOptions{})
	const senders, total = 20, 500
	var next atomic.Int64
	var mu sync.Mutex
	seen := map[string]int{}
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > total {
					return
				}
				reg, err := w.Register(t.Context(), "", time.Now().Add(time.Minute))
				if err != nil {
					t.Error(err)
					return
				}
				body := fmt.Sprintf(`{"status":"success","n":%d}`, n)
				sent := time.Now()
				if st := post(t, reg.URL, body); st != 200 {
					t.Errorf("delivery %d answered %d", n, st)
				}
				select {
				case ev := <-reg.Events:
					d := time.Since(sent)
					mu.Lock()
					seen[string(ev.Body)]++
					lat = append(lat, d)
					mu.Unlock()
				case <-time.After(10 * time.Second):
					t.Errorf("delivery %d not received", n)
				}
				if n := b.Client().XLen(t.Context(), b.streamKey(reg.Token)).Val(); n != 1 {
					t.Errorf("token stream holds %d entries", n)
				}
				reg.Unregister()
				for ev := range reg.Events {
					t.Errorf("a second event %s", ev.Body)
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if len(seen) != total {
		t.Fatalf("%d of %d deliveries received", len(seen), total)
	}
	for body, n := range seen {
		if n != 1 {
			t.Fatalf("%s received %d times", body, n)
		}
	}
	if s := rl.Stats(); s.Stored != total || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
	if ps := b.Client().PoolStats(); ps.TotalConns > 3*senders {
		t.Fatalf("%d connections for %d concurrent waits", ps.TotalConns, senders)
	}
	slices.Sort(lat)
	t.Logf("%d deliveries from %d senders in %s: POST sent → event p50 %s p99 %s max %s", total, senders, el.Round(time.Millisecond),
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

func TestCheck(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	url := "redis://" + testRedis + "/0"
	o := CheckOptions{Redis: RedisOptions{Prefix: b.Prefix()}, Timeout: 5 * time.Second}
	res := Check(t.Context(), url, o)
	if !res[0].OK || !res[1].OK || res[2].OK || !res[3].Skipped || res[2].Hint == "" {
		t.Fatalf("no relay: %+v", res)
	}
	serveRelay(t, b, Options{})
	res = Check(t.Context(), url, o)
	for _, r := range res {
		if !r.OK {
			t.Fatalf("with a relay: %+v", res)
		}
	}
	t.Logf("%+v", res)
	// The round trip left nothing behind but the relay's heartbeat.
	keys := b.Client().Keys(t.Context(), b.Prefix()+"*").Val()
	for _, k := range keys {
		if !strings.HasPrefix(k, b.Prefix()+"relay") {
			t.Fatalf("left behind: %v", keys)
		}
	}
	// A relay on another Redis prefix is not this one: 200 but not found.
	other := Check(t.Context(), url, CheckOptions{Redis: RedisOptions{Prefix: b.Prefix() + "x:"}, Timeout: 2 * time.Second})
	if other[2].OK {
		t.Fatalf("another prefix sees a relay: %+v", other)
	}
}

func TestCheckFaults(t *testing.T) {
	t.Parallel()
	const pw = "pa55-word"
	srv := startRedis(t, "--requirepass", pw)
	res := Check(t.Context(), "redis://:wrong@"+srv.Addr()+"/0", CheckOptions{Timeout: 3 * time.Second})
	if !res[0].OK || res[1].OK || !res[2].Skipped || strings.Contains(fmt.Sprint(res), "wrong@") {
		t.Fatalf("wrong password: %+v", res)
	}
	res = Check(t.Context(), "redis://"+srv.Addr()+"/0", CheckOptions{Timeout: 3 * time.Second})
	if !res[0].OK || res[1].OK {
		t.Fatalf("no password: %+v", res)
	}
	res = Check(t.Context(), "redis://:"+pw+"@"+srv.Addr()+"/0", CheckOptions{Timeout: 3 * time.Second})
	if !res[0].OK || !res[1].OK || res[2].OK || strings.Contains(fmt.Sprint(res), pw) {
		t.Fatalf("right password: %+v", res)
	}
	srv.Kill()
	res = Check(t.Context(), "redis://:"+pw+"@"+srv.Addr()+"/0", CheckOptions{Timeout: 3 * time.Second})
	if res[0].OK || !res[1].Skipped || strings.Contains(fmt.Sprint(res), pw) {
		t.Fatalf("down: %+v", res)
	}
	t.Logf("%+v", res)
}
