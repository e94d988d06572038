package listener

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func startServer(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, "http://" + ln.Addr().String()
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestNewTokenIsRandom128Bit(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 32 {
			t.Fatalf("token %q: want 32 hex chars (128 bits)", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}
}

func TestDeliveryAndRejections(t *testing.T) {
	var mu sync.Mutex
	var rejections []Rejection
	s, base := startServer(t, Options{MaxBody: 1024, OnReject: func(r Rejection) {
		mu.Lock()
		rejections = append(rejections, r)
		mu.Unlock()
	}})
	ch, unregister, err := s.Register("tok123")
	if err != nil {
		t.Fatal(err)
	}
	defer unregister()
	if _, _, err := s.Register("tok123"); err == nil {
		t.Fatal("second Register of the same token succeeded")
	}

	cases := []struct {
		name, path, body string
		want             int
	}{
		{"valid", "/tok123", `{"status":"success","id":1}`, 200},
		{"valid under a proxy prefix", "/hooks/tok123", `{"status":"success","id":2}`, 200},
		{"trailing slash", "/tok123/", `{"status":"success","id":3}`, 200},
		{"unknown token", "/nope", `{"status":"success"}`, 404},
		{"root", "/", `{"status":"success"}`, 404},
		{"not json", "/tok123", `status=success`, 400},
		{"json scalar", "/tok123", `"success"`, 400},
		{"truncated json", "/tok123", `{"status":`, 400},
		{"empty", "/tok123", ``, 400},
		{"too big", "/tok123", `{"x":"` + strings.Repeat("a", 2000) + `"}`, 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _ := post(t, base+c.path, c.body)
			if code != c.want {
				t.Fatalf("POST %s: status %d, want %d", c.path, code, c.want)
			}
		})
	}
	for i := 1; i <= 3; i++ {
		select {
		case d := <-ch:
			if want := fmt.Sprintf(`{"status":"success","id":%d}`, i); string(d.Body) != want {
				t.Fatalf("delivery %d body %s, want %s", i, d.Body, want)
			}
			if d.Token != "tok123" || d.Method != "POST" || d.ReceivedAt.IsZero() {
				t.Fatalf("delivery %+v", d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("delivery %d never arrived", i)
		}
	}
	select {
	case d := <-ch:
		t.Fatalf("unexpected extra delivery %s", d.Body)
	default:
	}
	acc, rej, drop := s.Stats()
	if acc != 3 || rej != 7 || drop != 0 {
		t.Fatalf("stats accepted=%d rejected=%d dropped=%d, want 3/7/0", acc, rej, drop)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(rejections) != 7 {
		t.Fatalf("%d rejections reported, want 7", len(rejections))
	}
}

func TestChunkedBodyOverLimitIs413(t *testing.T) {
	s, base := startServer(t, Options{MaxBody: 100})
	_, unregister, _ := s.Register("t")
	defer unregister()
	// No Content-Length: the cap must hold while reading.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"a":"` + strings.Repeat("x", 500) + `"}`))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", base+"/t", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
}

func TestProbeAndMethods(t *testing.T) {
	s, base := startServer(t, Options{})
	_, unregister, _ := s.Register("t")
	defer unregister()
	resp, err := http.Get(base + "/t")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET on a registered token: %d, want 200", resp.StatusCode)
	}
	resp, _ = http.Get(base + "/other")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("GET on an unknown token: %d, want 404", resp.StatusCode)
	}
	req, _ := http.NewRequest("DELETE", base+"/t", nil)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("DELETE: %d, want 405", resp.StatusCode)
	}
}

func TestUnregisterStopsDeliveriesAndClosesChannel(t *testing.T) {
	s, base := startServer(t, Options{})
	ch, unregister, _ := s.Register("t")
	unregister()
	unregister() // idempotent
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed after unregister")
	}
	if code, _ := post(t, base+"/t", `{}`); code != 404 {
		t.Fatalf("POST after unregister: %d, want 404", code)
	}
}

// TestFullQueueIsRefusedNotDropped: a delivery answered 200 is never lost;
// when the token's queue is full the sender is told 503 (and may retry).
// Issue 13: full queues answered 200 and dropped the delivery.
func TestFullQueueIsRefusedNotDropped(t *testing.T) {
	var rejected []int
	var mu sync.Mutex
	s, base := startServer(t, Options{Buffer: 2, OnReject: func(r Rejection) {
		mu.Lock()
		rejected = append(rejected, r.Status)
		mu.Unlock()
	}})
	ch, unregister, _ := s.Register("t")
	defer unregister()
	for i := range 5 {
		want := 200
		if i >= 2 {
			want = http.StatusServiceUnavailable
		}
		if code, _ := post(t, base+"/t", fmt.Sprintf(`{"n":%d}`, i)); code != want {
			t.Fatalf("delivery %d: %d, want %d", i, code, want)
		}
	}
	if len(ch) != 2 {
		t.Fatalf("queued %d, want 2", len(ch))
	}
	if acc, _, drop := s.Stats(); drop != 3 || acc != 2 {
		t.Fatalf("accepted %d refused %d, want 2 and 3", acc, drop)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(rejected) != 3 || rejected[0] != http.StatusServiceUnavailable {
		t.Fatalf("rejections reported: %v", rejected)
	}
}

// TestTokenMatchesExactly: a token differing in its last character, a
// prefix or an extension of it is a 404 (a prefix-matching mutant passed
// the suite before).
func TestTokenMatchesExactly(t *testing.T) {
	s, base2 := startServer(t, Options{})
	const tok = "0123456789abcdef0123456789abcdef"
	_, unregister, _ := s.Register(tok)
	defer unregister()
	for _, p := range []string{tok[:31] + "0", tok[:31], tok + "0", strings.ToUpper(tok), tok[1:]} {
		if code, _ := post(t, base2+"/"+p, `{"status":"success"}`); code != http.StatusNotFound {
			t.Errorf("token %q: %d, want 404", p, code)
		}
	}
	if code, _ := post(t, base2+"/"+tok, `{"status":"success"}`); code != 200 {
		t.Errorf("the token itself: %d", code)
	}
}

// TestIdleConnectionsAreCapped: thousands of idle sockets cannot pin the
// process at its descriptor limit, and a delivery still gets through at
// once (issue 13: 25,000 idle connections made a finished job fail).
func TestIdleConnectionsAreCapped(t *testing.T) {
	s, base := startServer(t, Options{MaxConns: 16})
	ch, unregister, _ := s.Register("t")
	defer unregister()
	addr := strings.TrimPrefix(base, "http://")
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 200 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		open, shed := s.conns.count()
		if open <= 16 && shed >= 200-16 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("open %d shed %d: want at most 16 open", open, shed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	resp, err := client.Post(base+"/t", "application/json", strings.NewReader(`{"n":1}`))
	if err != nil {
		t.Fatalf("a delivery among idle sockets: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(start) > time.Second || len(ch) != 1 {
		t.Fatalf("status %d after %s, queued %d", resp.StatusCode, time.Since(start), len(ch))
	}
	if open, _ := s.conns.count(); open > 16 {
		t.Fatalf("%d connections open, cap 16", open)
	}
}

func TestDefaultMaxConns(t *testing.T) {
	if n := DefaultMaxConns(); n < 64 || n > 4096 {
		t.Fatalf("DefaultMaxConns = %d", n)
	}
}

// Many tokens and many concurrent senders: every delivery lands on its own
// token's channel, none on another's.
func TestConcurrentTokensAreIsolated(t *testing.T) {
	s, base := startServer(t, Options{Buffer: 100})
	const jobs, per = 20, 10
	chans := make([]<-chan Delivery, jobs)
	for i := range jobs {
		ch, unregister, err := s.Register(fmt.Sprintf("job%d", i))
		if err != nil {
			t.Fatal(err)
		}
		defer unregister()
		chans[i] = ch
	}
	var wg sync.WaitGroup
	for i := range jobs {
		for k := range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"job":%d,"k":%d}`, i, k)
				resp, err := http.Post(fmt.Sprintf("%s/job%d", base, i), "application/json", bytes.NewBufferString(body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}()
		}
	}
	wg.Wait()
	for i, ch := range chans {
		if len(ch) != per {
			t.Fatalf("job %d got %d deliveries, want %d", i, len(ch), per)
		}
		for range per {
			d := <-ch
			if !strings.HasPrefix(string(d.Body), fmt.Sprintf(`{"job":%d,`, i)) {
				t.Fatalf("job %d received %s", i, d.Body)
			}
		}
	}
}

func TestShutdownBeforeServe(t *testing.T) {
	s := New(Options{})
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	if err := s.Serve(ln); err != nil {
		t.Fatalf("Serve after Shutdown: %v, want nil", err)
	}
}
