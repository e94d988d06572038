package relay

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mlabcli/mlab/internal/ids"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"redis://127.0.0.1:6379/0":                  "redis://127.0.0.1:6379/0",
		"redis://:hunter2@host:6379/0":              "redis://:xxxxx@host:6379/0",
		"rediss://alice:hunter2@host:6380/1":        "rediss://alice:xxxxx@host:6380/1",
		"redis://hunter2@host/0":                    "redis://xxxxx@host/0",
		"redis://u:p%40ss@host/0":                   "redis://u:xxxxx@host/0",
		"redis://u:bad pw\x7f@host:x/0":             "redis://xxxxx@host:x/0",
		"u:pw@host":                                 "xxxxx@host",
		"  redis://:pw@h:1/0 ":                      "redis://:xxxxx@h:1/0",
		"redis://a:b@c@host:6379/0?dial_timeout=1s": "redis://a:xxxxx@host:6379/0?dial_timeout=1s",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsRedacted(t *testing.T) {
	for in, want := range map[string]bool{
		"redis://127.0.0.1:6379/0":           false,
		"redis://:hunter2@host:6379/0":       false,
		"redis://alice@host/0":               false,
		"redis://:xxxxx@host:6379/0":         true,
		"rediss://alice:xxxxx@host:6380/1":   true,
		"redis://xxxxx@host/0":               true,
		Redact("redis://:p%40ss@host/0?x=1"): true,
		"redis://host/0?note=xxxxx@":         false,
	} {
		if got := IsRedacted(in); got != want {
			t.Errorf("IsRedacted(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestOpenRedisErrors(t *testing.T) {
	for _, raw := range []string{
		"http://:pw123@host/0",
		"redis://:pw123@host:notaport/0",
		"redis://:pw123@host:6379/x",
		"redis://:pw123@host:6379/0?bogus=1",
		"redis://:pw123@",
		"u:pw123@host:6379",
	} {
		_, err := OpenRedis(raw, RedisOptions{})
		if err == nil {
			t.Errorf("%q: no error", raw)
			continue
		}
		if strings.Contains(err.Error(), "pw123") || !strings.Contains(err.Error(), "redis://") {
			t.Errorf("%q: %v", raw, err)
		}
	}
	b, err := OpenRedis("rediss://u:pw@example.com:6380/2?dial_timeout=7s", RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	opt := b.Client().Options()
	if opt.TLSConfig == nil || opt.DB != 2 || opt.DialTimeout != 7*time.Second || opt.ReadTimeout != 3*time.Second || opt.PoolSize != DefaultPoolSize {
		t.Fatalf("options %+v", opt)
	}
	if b.URL() != "rediss://u:xxxxx@example.com:6380/2?dial_timeout=7s" {
		t.Fatal(b.URL())
	}
}

func TestRedisErrorScrubbed(t *testing.T) {
	b, err := OpenRedis("redis://:t0psecret@127.0.0.1:1/0", RedisOptions{DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.fail("ping", errors.New("ERR something about t0psecret"))
	var re *RedisError
	if !errors.As(err, &re) || strings.Contains(err.Error(), "t0psecret") || !strings.Contains(err.Error(), "redis://:xxxxx@127.0.0.1:1/0") {
		t.Fatalf("%v", err)
	}
	err = b.fail("ping", errors.New("WRONGPASS invalid username-password pair"))
	if !errors.As(err, &re) || !re.Auth || !strings.Contains(err.Error(), "password in the relay URL") {
		t.Fatalf("%v", err)
	}
}

func TestPick(t *testing.T) {
	rs := []RelayInfo{{ID: "z", URL: "https://solo"}, {ID: "b", URL: "https://pair"}, {ID: "a", URL: "https://pair"}}
	if p := pick(rs); p.URL != "https://pair" || p.ID != "a" {
		t.Fatalf("%+v", p)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 7: 5 * time.Second, 50: 5 * time.Second} {
		for range 20 {
			if d := backoff(n); d < want*8/10 || d > want*12/10 {
				t.Fatalf("backoff(%d) = %s, want %s ±20%%", n, d, want)
			}
		}
	}
}

// memRelay is a relay on m behind a handler called directly (no socket).
func memRelay(t *testing.T, m Broker, o Options) *Relay {
	t.Helper()
	o.Broker = m
	if o.PublicURL == "" {
		o.PublicURL = "https://relay.example"
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func deliver(r http.Handler, token, body string) int {
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/"+token, strings.NewReader(body)))
	return rec.Code
}

func TestHeartbeatSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory()
		var reports []error
		var mu sync.Mutex
		r := memRelay(t, m, Options{ID: "r1", HeartbeatTTL: 3 * time.Second, OnHeartbeat: func(err error) {
			mu.Lock()
			reports = append(reports, err)
			mu.Unlock()
		}})
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // refreshed every second: still live
		if rs, _ := m.Relays(t.Context()); len(rs) != 1 {
			t.Fatalf("relays %+v", rs)
		}
		m.SetFail(errors.New("down"))
		time.Sleep(10 * time.Second)
		m.SetFail(nil)
		time.Sleep(2 * time.Second) // retried every second: back within one
		if rs, _ := m.Relays(t.Context()); len(rs) != 1 {
			t.Fatalf("relays after recovery %+v", rs)
		}
		mu.Lock()
		if len(reports) != 2 || reports[0] == nil || !strings.Contains(reports[0].Error(), "down") || reports[1] != nil {
			t.Fatalf("reports %v: want one failure, one recovery", reports)
		}
		mu.Unlock()
		r.halt() // killed: the heartbeat lapses within its TTL
		time.Sleep(3 * time.Second)
		if rs, _ := m.Relays(t.Context()); len(rs) != 0 {
			t.Fatalf("relays after the kill %+v", rs)
		}
		r.Stop() // idempotent after halt
	})
}

func TestRelayHandlerSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory()
		var errs []error
		r := memRelay(t, m, Options{Stream: "jobs", OnError: func(err error) { errs = append(errs, err) }})
		tok := ids.Token()
		if st := deliver(r, tok, `{}`); st != 404 {
			t.Fatalf("unregistered: %d", st)
		}
		m.Register(t.Context(), tok, time.Minute)
		if st := deliver(r, tok, `{"a":1}`); st != 200 {
			t.Fatalf("registered: %d", st)
		}
		if got := m.Shared("jobs"); len(got) != 1 || string(got[0].Body) != `{"a":1}` {
			t.Fatalf("shared %+v", got)
		}
		m.SetFail(errors.New("down"))
		if st := deliver(r, tok, `{"a":2}`); st != 503 || len(errs) != 1 {
			t.Fatalf("down: %d, %d errors", st, len(errs))
		}
		m.SetFail(nil)
		time.Sleep(2 * time.Minute) // the registration expired
		if st := deliver(r, tok, `{"a":3}`); st != 404 {
			t.Fatalf("expired: %d", st)
		}
		// Local tokens go to Next untouched.
		next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
		lr := memRelay(t, m, Options{Local: func(s string) bool { return s == "mine" }, Next: next})
		if st := deliver(lr, "mine", `x`); st != 299 {
			t.Fatalf("local: %d", st)
		}
	})
}

func TestWaiterSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory()
		var errs []error
		var notes []string
		var mu sync.Mutex
		w := NewWaiter(m, WaiterOptions{Block: 5 * time.Second,
			OnError: func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() },
			Notify:  func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() }})
		if _, err := w.Register(t.Context(), "", time.Now().Add(time.Hour)); !errors.Is(err, ErrNoRelay) {
			t.Fatalf("no relay: %v", err)
		}
		m.Advertise(t.Context(), RelayInfo{ID: "r", URL: "https://relay.example"}, time.Hour)
		ctx, cancel := context.WithCancel(t.Context())
		reg, err := w.Register(ctx, "", time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if reg.URL != "https://relay.example/"+reg.Token {
			t.Fatal(reg.URL)
		}
		r := memRelay(t, m, Options{})
		deliver(r, reg.Token, `{"n":1}`)
		if ev := <-reg.Events; string(ev.Body) != `{"n":1}` {
			t.Fatalf("%s", ev.Body)
		}

		// The broker fails for a minute: reads are retried with backoff.
		m.SetFail(errors.New("connection reset"))
		time.Sleep(time.Minute)
		mu.Lock()
		n := len(errs)
		mu.Unlock()
		// 100+200+400+800+1600+3200 ms, then every 5 s: about 17 in a minute.
		if n < 12 || n > 20 {
			t.Fatalf("%d retries in a minute", n)
		}
		// Meanwhile the broker lost the registration (a restart).
		m.SetFail(nil)
		m.mu.Lock()
		delete(m.tokens, reg.Token)
		m.mu.Unlock()
		time.Sleep(6 * time.Second)
		if ok, _ := m.Registered(t.Context(), reg.Token); !ok {
			t.Fatal("the registration was not restored")
		}
		deliver(r, reg.Token, `{"n":2}`)
		if ev := <-reg.Events; string(ev.Body) != `{"n":2}` {
			t.Fatalf("%s", ev.Body)
		}
		mu.Lock()
		if len(notes) != 2 || !strings.Contains(notes[0], "registered again") || !strings.Contains(notes[1], "works again") {
			t.Fatalf("notes %q", notes)
		}
		mu.Unlock()

		// The wait's context ends while the broker is down: no hang.
		m.SetFail(errors.New("down again"))
		time.Sleep(30 * time.Second)
		cancel()
		synctest.Wait()
		if _, ok := <-reg.Events; ok {
			t.Fatal("events open after the context ended")
		}
		reg.Unregister() // fails (down): told, not blocking
		mu.Lock()
		if last := errs[len(errs)-1]; !strings.Contains(last.Error(), "unregistering") {
			t.Fatalf("last error %v", last)
		}
		mu.Unlock()
	})
}

func TestWaiterNoDeadlineRefreshesSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory()
		m.Advertise(t.Context(), RelayInfo{ID: "r", URL: "https://relay.example"}, 10*time.Hour)
		w := NewWaiter(m, WaiterOptions{})
		reg, err := w.Register(t.Context(), "", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * DefaultIdleTTL) // refreshed at every read
		if ok, _ := m.Registered(t.Context(), reg.Token); !ok {
			t.Fatal("a wait without a deadline lost its registration")
		}
		reg.Close()
		time.Sleep(DefaultIdleTTL + time.Minute)
		if ok, _ := m.Registered(t.Context(), reg.Token); ok {
			t.Fatal("registration still there an idle TTL after Close")
		}
		// Past its deadline a registration lapses; reading goes on.
		reg2, _ := w.Register(t.Context(), "", time.Now().Add(time.Minute))
		time.Sleep(2 * time.Minute)
		if ok, _ := m.Registered(t.Context(), reg2.Token); ok {
			t.Fatal("registration kept past its deadline")
		}
		reg2.Unregister()
	})
}
