package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// roundTripFunc is an in-memory transport: no sockets, so it runs inside a
// synctest bubble.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// hang is an app that never answers: the request ends with its context.
var hang = roundTripFunc(func(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
})

func answer(r *http.Request, status int) *http.Response {
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader("ok")), Header: http.Header{}, Request: r}
}

// app is an httptest server that keeps what it was sent.
type app struct {
	mu      sync.Mutex
	methods []string
	headers []http.Header
	bodies  []string
	status  int
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.methods = append(a.methods, r.Method)
	a.headers = append(a.headers, r.Header.Clone())
	a.bodies = append(a.bodies, string(b))
	st := a.status
	a.mu.Unlock()
	if st != 0 {
		w.WriteHeader(st)
	}
}

func (a *app) got() ([]string, []http.Header, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.methods, a.headers, a.bodies
}

func TestSendDropsHopHeadersAndKeepsTheRest(t *testing.T) {
	a := &app{}
	srv := httptest.NewServer(a)
	defer srv.Close()
	h := http.Header{
		"Connection": {"close"}, "Keep-Alive": {"300"}, "Te": {"trailers"}, "Host": {"evil.example"},
		"Accept-Encoding": {"br"}, "X-Custom": {"1", "2"},
	}
	res := Send(context.Background(), NewClient(5*time.Second), Request{URL: srv.URL + "/hooks", Header: h, Body: []byte(`{"id":1}`)})
	if !res.OK() || res.Status != 200 || res.Err != nil || res.Elapsed <= 0 {
		t.Fatalf("result %+v", res)
	}
	methods, headers, bodies := a.got()
	got := headers[0]
	if methods[0] != http.MethodPost || bodies[0] != `{"id":1}` {
		t.Fatalf("%s %q", methods[0], bodies[0])
	}
	if got.Get("Content-Type") != "application/json" || strings.Join(got.Values("X-Custom"), ",") != "1,2" {
		t.Fatalf("headers %v", got)
	}
	if got.Get("Keep-Alive") != "" || got.Get("Te") != "" || got.Get("Accept-Encoding") == "br" {
		t.Fatalf("hop headers sent on: %v", got)
	}
	// Not a relay: Go's own User-Agent, no X-Forwarded-*.
	if got.Get("User-Agent") != "Go-http-client/1.1" || got.Get("X-Forwarded-For") != "" || got.Get("X-Forwarded-Proto") != "" {
		t.Fatalf("headers %v", got)
	}
}

func TestSendRelayAddsForwardedHeaders(t *testing.T) {
	a := &app{}
	srv := httptest.NewServer(a)
	defer srv.Close()
	client := NewClient(5 * time.Second)
	Send(context.Background(), client, Request{URL: srv.URL, Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body: []byte(`{}`), Relay: &Relay{RemoteAddr: "10.0.0.7:5555", Proto: "https"}})
	Send(context.Background(), client, Request{URL: srv.URL, Header: http.Header{"X-Forwarded-For": {"1.2.3.4"}, "X-Forwarded-Proto": {"http"}, "User-Agent": {"ModelsLab-Webhook/1.0"}},
		Body: []byte(`{}`), Relay: &Relay{RemoteAddr: "10.0.0.7:5555", Proto: "https"}})
	methods, headers, _ := a.got()
	if len(headers) != 2 || methods[0] != http.MethodPost {
		t.Fatalf("%d requests, %v", len(headers), methods)
	}
	first, second := headers[0], headers[1]
	if first.Get("X-Forwarded-For") != "10.0.0.7" || first.Get("X-Forwarded-Proto") != "https" || first.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("first %v", first)
	}
	if _, ok := first["User-Agent"]; ok {
		t.Fatalf("a relay made up a User-Agent: %v", first)
	}
	if second.Get("X-Forwarded-For") != "1.2.3.4, 10.0.0.7" || second.Get("X-Forwarded-Proto") != "http" || second.Get("User-Agent") != "ModelsLab-Webhook/1.0" {
		t.Fatalf("second %v", second)
	}
}

func TestSendReportsAnswersAndErrorsPlainly(t *testing.T) {
	a := &app{status: http.StatusFound}
	srv := httptest.NewServer(a)
	res := Send(context.Background(), NewClient(5*time.Second), Request{URL: srv.URL, Body: []byte(`{}`)})
	if res.Status != http.StatusFound || res.OK() || res.Err != nil {
		t.Fatalf("a redirect is the answer, not followed: %+v", res)
	}
	srv.Close()

	// A receiver that is down: the error names the address, not `Post "URL":`.
	res = Send(context.Background(), NewClient(5*time.Second), Request{URL: srv.URL, Body: []byte(`{}`)})
	host := strings.TrimPrefix(srv.URL, "http://")
	if res.OK() || res.Status != 0 || res.Err == nil || strings.Contains(res.Err.Error(), "Post") || !strings.Contains(res.Err.Error(), "dial "+host+": ") {
		t.Fatalf("down: %+v", res)
	}
	if res := Send(context.Background(), NewClient(time.Second), Request{URL: "http://[::1", Body: []byte(`{}`)}); res.Err == nil {
		t.Fatal("a bad URL sent")
	}
	for _, c := range []struct {
		r  Result
		ok bool
	}{{Result{Status: 200}, true}, {Result{Status: 299}, true}, {Result{Status: 300}, false}, {Result{Status: 199}, false}, {Result{Status: 200, Err: errors.New("x")}, false}} {
		if c.r.OK() != c.ok {
			t.Errorf("%+v.OK() = %v", c.r, !c.ok)
		}
	}
}

func TestSendSaysTimeoutsAndCancellationsPlainly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res := Send(ctx, newClient(hang, 0), Request{URL: "http://app.invalid/", Body: []byte(`{}`)})
		if res.Err == nil || res.Err.Error() != "no answer in time" || res.Elapsed != 30*time.Second {
			t.Fatalf("timeout: %+v", res)
		}
		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		res = Send(ctx, newClient(hang, 0), Request{URL: "http://app.invalid/", Body: []byte(`{}`)})
		if res.Err == nil || res.Err.Error() != "stopped while waiting for the answer" || res.Elapsed != time.Second {
			t.Fatalf("cancel: %+v", res)
		}
	})
	refused := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Err: errors.New("connect: connection refused")}
	if got := plainNetError(refused).Error(); got != "dial 127.0.0.1:9: connection refused" {
		t.Fatalf("plainNetError = %q", got)
	}
}
