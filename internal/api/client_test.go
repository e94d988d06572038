package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testKey = "sk-test-SECRET123"

type reply struct {
	code   int
	body   string
	header map[string]string
	hijack bool // close the connection without answering
}

type recorded struct {
	Method      string
	Path        string
	ContentType string
	HeaderKey   string
	UserAgent   string
	Raw         []byte
	Body        map[string]any
}

// fakeAPI is an httptest server that answers with a scripted sequence of
// replies (the last one repeats) and records every request.
type fakeAPI struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	replies []reply
	reqs    []recorded
}

func newFakeAPI(t *testing.T, replies ...reply) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, replies: replies}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	rec := recorded{
		Method: r.Method, Path: r.URL.EscapedPath(), ContentType: r.Header.Get("Content-Type"),
		HeaderKey: r.Header.Get("key"), UserAgent: r.Header.Get("User-Agent"), Raw: raw,
	}
	_ = json.Unmarshal(raw, &rec.Body)
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, rec)
	rep := reply{code: 200, body: `{"status":"success","id":1,"output":["https://x/1.png"]}`}
	if len(f.replies) > 0 {
		rep = f.replies[min(n, len(f.replies)-1)]
	}
	f.mu.Unlock()
	if rep.hijack {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.code)
	_, _ = io.WriteString(w, rep.body)
}

func (f *fakeAPI) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// sleepRecorder is a WithSleep seam that records the waits and never sleeps.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func newTestClient(base string, sl *sleepRecorder, opts ...Option) *Client {
	all := []Option{WithSleep(sl.sleep)}
	return New(base, testKey, append(all, opts...)...)
}

func mustLookup(t *testing.T, name string) Endpoint {
	t.Helper()
	ep, ok := Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q) failed", name)
	}
	return ep
}

func payloadString(t *testing.T, name string) string {
	t.Helper()
	return string(readPayload(t, name))
}

func asAPIError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *api.Error", err, err)
	}
	if strings.Contains(e.Error(), testKey) {
		t.Fatalf("error text leaks the key: %s", e.Error())
	}
	return e
}

func TestSubmitRequestShape(t *testing.T) {
	tests := []struct {
		auth                 AuthStyle
		wantBodyKey, wantHdr bool
	}{
		{AuthBody, true, false},
		{AuthHeader, false, true},
		{AuthBoth, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.auth.String(), func(t *testing.T) {
			f := newFakeAPI(t, reply{code: 200, body: payloadString(t, "text2img.response.processing.json")})
			c := newTestClient(f.srv.URL+"/", &sleepRecorder{}, WithUserAgent("mlab-test/1"))
			ep := mustLookup(t, "text2img")
			ep.Auth = tt.auth
			body := map[string]any{"prompt": "a cat & a dog <3", "samples": 2, "key": "caller-supplied"}
			before := fmt.Sprint(body)
			r, err := c.Submit(context.Background(), ep, body)
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			if r.ID != "134701497" || r.State() != StateProcessing || r.ETA != 2.75 {
				t.Errorf("response = %+v", r)
			}
			if fmt.Sprint(body) != before {
				t.Errorf("caller's body was modified: %v", body)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			q := reqs[0]
			if q.Method != http.MethodPost || q.Path != "/api/v6/images/text2img" || q.ContentType != "application/json" || q.UserAgent != "mlab-test/1" {
				t.Errorf("request = %s %s (%s, UA %q)", q.Method, q.Path, q.ContentType, q.UserAgent)
			}
			if q.Body["prompt"] != "a cat & a dog <3" || q.Body["samples"] != float64(2) {
				t.Errorf("body = %v", q.Body)
			}
			gotKey, hasKey := q.Body["key"]
			if hasKey != tt.wantBodyKey || (hasKey && gotKey != testKey) {
				t.Errorf("body key = %v (present %v), want present %v", gotKey, hasKey, tt.wantBodyKey)
			}
			if (q.HeaderKey == testKey) != tt.wantHdr || (!tt.wantHdr && q.HeaderKey != "") {
				t.Errorf("header key = %q, want present %v", q.HeaderKey, tt.wantHdr)
			}
		})
	}
}

func TestSubmitErrors(t *testing.T) {
	tests := []struct {
		name       string
		reply      reply
		kind       ErrorKind
		httpStatus int
		message    string
		text       string // exact Error() text when set
		hint       string // substring of Hint()
	}{
		{"200 status error", reply{code: 200, body: payloadString(t, "error.legacy.model_not_found.json")},
			KindRejected, 200, "Model id not found", "submit text2img: Model id not found", "parameters"},
		{"401", reply{code: 401, body: payloadString(t, "error.401.invalid_key.json")},
			KindAuth, 401, "Invalid API key", "submit text2img: HTTP 401: Invalid API key", "MODELSLAB_API_KEY"},
		{"200 invalid api key", reply{code: 200, body: payloadString(t, "error.legacy.invalid_api_key.json")},
			KindAuth, 200, "Invalid Api Key", "", "MODELSLAB_API_KEY"},
		{"402", reply{code: 402, body: payloadString(t, "error.402.insufficient_credits.json")},
			KindCredits, 402, "Insufficient credits. Please add more credits to continue.", "", "credits"},
		{"200 insufficient credits", reply{code: 200, body: `{"status":"error","message":"Insufficient credits"}`},
			KindCredits, 200, "Insufficient credits", "", "top up"},
		{"403", reply{code: 403, body: payloadString(t, "error.403.feature_not_available.json")},
			KindForbidden, 403, "This feature requires a premium subscription", "", "plan"},
		{"400 validation object", reply{code: 400, body: `{"status":"error","message":{"prompt":["The prompt field is required."]}}`},
			KindRejected, 400, "prompt: The prompt field is required.", "submit text2img: HTTP 400: prompt: The prompt field is required.", ""},
		{"422 failed", reply{code: 422, body: payloadString(t, "error.legacy.failed.json")},
			KindRejected, 422, "Failed, Try Again", "", ""},
		{"500 is not retried", reply{code: 500, body: payloadString(t, "error.500.json")},
			KindServer, 500, "Internal server error. Please try again.", "", "later"},
		{"502 html is not retried", reply{code: 502, body: "<html>bad gateway</html>", header: map[string]string{"Content-Type": "text/html"}},
			KindServer, 502, "response is not a JSON object (text/html, 24 bytes)", "", "later"},
		{"404 html", reply{code: 404, body: "<html>not found</html>", header: map[string]string{"Content-Type": "text/html"}},
			KindDecode, 404, "response is not a JSON object (text/html, 22 bytes)", "", "MODELSLAB_BASE_URL"},
		{"200 not json", reply{code: 200, body: "OK"},
			KindDecode, 200, "response is not a JSON object (application/json, 2 bytes)", "", ""},
		{"200 unknown status without id", reply{code: 200, body: `{"status":"queued"}`},
			KindDecode, 200, `unexpected response (status "queued", no id)`, "", ""},
		{"200 spam filter is not retried", reply{code: 200, body: payloadString(t, "error.legacy.rate_limit.json")},
			KindRateLimited, 200, "Rate limit exceeded", "", "wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, tt.reply)
			sl := &sleepRecorder{}
			c := newTestClient(f.srv.URL, sl)
			r, err := c.Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
			if err == nil {
				t.Fatalf("Submit = %+v, want an error", r)
			}
			e := asAPIError(t, err)
			if e.Kind != tt.kind || e.HTTPStatus != tt.httpStatus || e.Message != tt.message {
				t.Errorf("got kind %v, HTTP %d, message %q; want %v, %d, %q", e.Kind, e.HTTPStatus, e.Message, tt.kind, tt.httpStatus, tt.message)
			}
			if tt.text != "" && e.Error() != tt.text {
				t.Errorf("Error() = %q, want %q", e.Error(), tt.text)
			}
			if !strings.Contains(e.Hint(), tt.hint) {
				t.Errorf("Hint() = %q, want it to mention %q", e.Hint(), tt.hint)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1 (no retry)", n)
			}
			if len(sl.got()) != 0 {
				t.Errorf("slept %v", sl.got())
			}
		})
	}
}

func TestSubmitAcceptsJobWhateverTheHTTPStatus(t *testing.T) {
	// A processing body names a job that exists: losing its id would invite
	// a second, paid submit.
	f := newFakeAPI(t, reply{code: 500, body: payloadString(t, "text2img.response.processing.json")})
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	r, err := c.Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	if err != nil || r.ID != "134701497" {
		t.Fatalf("Submit = %+v, %v", r, err)
	}
	// Unknown status with an id is a job too.
	f2 := newFakeAPI(t, reply{code: 200, body: `{"status":"queued","id":77}`})
	r, err = newTestClient(f2.srv.URL, &sleepRecorder{}).Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	if err != nil || r.ID != "77" || r.State() != StateUnknown {
		t.Fatalf("Submit = %+v, %v", r, err)
	}
}

func TestSubmitRetries429WithRetryAfter(t *testing.T) {
	f := newFakeAPI(t,
		reply{code: 429, body: `{"status":"error","message":"Rate limit exceeded. Maximum 5 queued requests allowed.","retry_after":7}`},
		reply{code: 200, body: payloadString(t, "text2img.response.processing.json")},
	)
	sl := &sleepRecorder{}
	c := newTestClient(f.srv.URL, sl)
	body := map[string]any{"prompt": "a lighthouse", "width": "512"}
	r, err := c.Submit(context.Background(), mustLookup(t, "text2img"), body)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if r.ID != "134701497" {
		t.Errorf("ID = %q", r.ID)
	}
	if got := sl.got(); !reflect.DeepEqual(got, []time.Duration{7 * time.Second}) {
		t.Errorf("waits = %v, want [7s]", got)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if !bytes.Equal(reqs[0].Raw, reqs[1].Raw) || len(reqs[1].Raw) == 0 {
		t.Errorf("retried body differs:\n%s\n%s", reqs[0].Raw, reqs[1].Raw)
	}
	want := map[string]any{"prompt": "a lighthouse", "width": "512", "key": testKey}
	if !reflect.DeepEqual(reqs[1].Body, want) {
		t.Errorf("retried body = %v, want %v", reqs[1].Body, want)
	}
}

func TestSubmit429RetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		want   time.Duration
	}{
		{"seconds", "4", 4 * time.Second},
		{"http date", now.Add(9 * time.Second).Format(http.TimeFormat), 9 * time.Second},
		{"capped", "3600", 60 * time.Second},
		{"garbage falls back to backoff", "soon", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t,
				reply{code: 429, body: `{"status":"error","message":"Too many requests"}`, header: map[string]string{"Retry-After": tt.header}},
				reply{code: 200, body: `{"status":"success","id":5,"output":["https://x/5.png"]}`},
			)
			sl := &sleepRecorder{}
			c := newTestClient(f.srv.URL, sl)
			c.now = func() time.Time { return now }
			if _, err := c.Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"}); err != nil {
				t.Fatalf("Submit: %v", err)
			}
			if got := sl.got(); !reflect.DeepEqual(got, []time.Duration{tt.want}) {
				t.Errorf("waits = %v, want [%v]", got, tt.want)
			}
		})
	}
}

func TestSubmit429Exhausted(t *testing.T) {
	f := newFakeAPI(t, reply{code: 429, body: payloadString(t, "error.429.rate_limit.json")})
	sl := &sleepRecorder{}
	c := newTestClient(f.srv.URL, sl, WithRetry(3, 10*time.Second))
	_, err := c.Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	e := asAPIError(t, err)
	if e.Kind != KindRateLimited || e.HTTPStatus != 429 || e.RetryAfter != 30*time.Second {
		t.Errorf("error = %+v", e)
	}
	if !strings.Contains(e.Error(), "retry after 30s") || !strings.Contains(e.Hint(), "30s") {
		t.Errorf("Error() = %q, Hint() = %q", e.Error(), e.Hint())
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if got := sl.got(); !reflect.DeepEqual(got, []time.Duration{10 * time.Second, 10 * time.Second}) {
		t.Errorf("waits = %v (retry_after 30s capped at 10s)", got)
	}
}

func TestSubmitBackoffWithoutRetryAfter(t *testing.T) {
	f := newFakeAPI(t, reply{code: 503, body: payloadString(t, "error.503.json")})
	sl := &sleepRecorder{}
	c := newTestClient(f.srv.URL, sl, WithRetry(5, 3*time.Second))
	_, err := c.Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	if e := asAPIError(t, err); e.Kind != KindServer || e.HTTPStatus != 503 {
		t.Errorf("error = %+v", e)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	if got := sl.got(); !reflect.DeepEqual(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if n := len(f.requests()); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
}

func TestSubmitRetries503ThenSucceeds(t *testing.T) {
	f := newFakeAPI(t,
		reply{code: 503, body: payloadString(t, "error.503.json")},
		reply{code: 503, body: "<html>maintenance</html>"},
		reply{code: 200, body: payloadString(t, "text2img.response.success.json")},
	)
	sl := &sleepRecorder{}
	r, err := newTestClient(f.srv.URL, sl).Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	if err != nil || r.State() != StateSuccess || len(r.Output) != 1 {
		t.Fatalf("Submit = %+v, %v", r, err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if got := sl.got(); !reflect.DeepEqual(got, []time.Duration{time.Second, 2 * time.Second}) {
		t.Errorf("waits = %v", got)
	}
}

func TestSubmitDoesNotRetryNetworkErrorAfterSending(t *testing.T) {
	f := newFakeAPI(t, reply{hijack: true})
	sl := &sleepRecorder{}
	_, err := newTestClient(f.srv.URL, sl).Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	e := asAPIError(t, err)
	if e.Kind != KindNetwork || e.Err == nil || e.HTTPStatus != 0 {
		t.Errorf("error = %+v", e)
	}
	if !strings.Contains(e.Hint(), "network") {
		t.Errorf("Hint() = %q", e.Hint())
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want exactly 1: the POST may have been accepted", n)
	}
	if len(sl.got()) != 0 {
		t.Errorf("slept %v", sl.got())
	}
}

// flakyDialTransport fails the first n round trips with a dial error, then
// passes requests on.
type flakyDialTransport struct {
	mu    sync.Mutex
	fails int
	next  http.RoundTripper
}

func (f *flakyDialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	fail := f.fails > 0
	if fail {
		f.fails--
	}
	f.mu.Unlock()
	if fail {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return f.next.RoundTrip(req)
}

func TestSubmitRetriesDialErrors(t *testing.T) {
	f := newFakeAPI(t, reply{code: 200, body: payloadString(t, "text2img.response.processing.json")})
	sl := &sleepRecorder{}
	hc := &http.Client{Transport: &flakyDialTransport{fails: 2, next: http.DefaultTransport}}
	r, err := newTestClient(f.srv.URL, sl, WithHTTPClient(hc)).Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	if err != nil || r.ID != "134701497" {
		t.Fatalf("Submit = %+v, %v", r, err)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Body["prompt"] != "x" || reqs[0].Body["key"] != testKey {
		t.Errorf("requests = %+v", reqs)
	}
	if got := sl.got(); len(got) != 2 {
		t.Errorf("waits = %v, want 2", got)
	}
}

func TestSubmitConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens any more: every dial is refused
	sl := &sleepRecorder{}
	_, err := newTestClient(base, sl, WithRetry(3, time.Second)).Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	e := asAPIError(t, err)
	if e.Kind != KindNetwork || !isDialError(e) {
		t.Errorf("error = %v (kind %v)", e, e.Kind)
	}
	if got := sl.got(); len(got) != 2 {
		t.Errorf("waits = %v, want 2 (3 attempts)", got)
	}
}

func TestSubmitStopsWhenContextEnds(t *testing.T) {
	f := newFakeAPI(t, reply{code: 429, body: payloadString(t, "error.429.rate_limit.json")})
	ctx, cancel := context.WithCancel(context.Background())
	c := New(f.srv.URL, testKey, WithSleep(func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}))
	_, err := c.Submit(ctx, mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Errorf("a cancelled wait should not be an *api.Error: %v", e)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestSubmitBadBody(t *testing.T) {
	f := newFakeAPI(t)
	_, err := newTestClient(f.srv.URL, &sleepRecorder{}).Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": make(chan int)})
	if err == nil || len(f.requests()) != 0 {
		t.Fatalf("err = %v, requests = %d", err, len(f.requests()))
	}
}

func TestDefaultSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleepCtx = %v", err)
	}
	if err := sleepCtx(context.Background(), 0); err != nil {
		t.Errorf("sleepCtx(0) = %v", err)
	}
}

func TestFetchRetries500ThenSucceeds(t *testing.T) {
	f := newFakeAPI(t,
		reply{code: 500, body: payloadString(t, "error.500.json")},
		reply{code: 502, body: "<html>bad gateway</html>"},
		reply{code: 200, body: payloadString(t, "images.fetch.response.success.json")},
	)
	sl := &sleepRecorder{}
	c := newTestClient(f.srv.URL, sl)
	r, err := c.Fetch(context.Background(), mustLookup(t, "text2img"), "13443927", "")
	if err != nil || r.State() != StateSuccess || r.ID != "13443927" || len(r.Output) != 1 {
		t.Fatalf("Fetch = %+v, %v", r, err)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, q := range reqs {
		if q.Method != http.MethodPost || q.Path != "/api/v6/images/fetch/13443927" || q.ContentType != "application/json" {
			t.Errorf("request = %s %s %s", q.Method, q.Path, q.ContentType)
		}
		if !reflect.DeepEqual(q.Body, map[string]any{"key": testKey}) {
			t.Errorf("fetch body = %v", q.Body)
		}
	}
	if got := sl.got(); !reflect.DeepEqual(got, []time.Duration{time.Second, 2 * time.Second}) {
		t.Errorf("waits = %v", got)
	}
}

func TestFetchRetriesNetworkErrors(t *testing.T) {
	f := newFakeAPI(t, reply{hijack: true}, reply{code: 200, body: payloadString(t, "video.fetch.response.processing.json")})
	sl := &sleepRecorder{}
	r, err := newTestClient(f.srv.URL, sl).Fetch(context.Background(), mustLookup(t, "text2video"), "147", "")
	if err != nil || r.State() != StateProcessing {
		t.Fatalf("Fetch = %+v, %v", r, err)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestFetchResults(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
		state State
		msg   string
	}{
		{"processing without id", reply{code: 200, body: payloadString(t, "images.fetch.response.processing.json")}, StateProcessing, "try again later."},
		{"request not found", reply{code: 200, body: `{"status":"failed","id":"","message":"Request not found","output":"","tip":"check the id"}`}, StateFailed, "Request not found"},
		{"request not found as 404", reply{code: 404, body: `{"status":"failed","id":"","message":"Request not found","output":""}`}, StateFailed, "Request not found"},
		{"job failed", reply{code: 200, body: payloadString(t, "error.legacy.failed.json")}, StateFailed, "Failed, Try Again"},
		{"status error", reply{code: 200, body: payloadString(t, "images.fetch.response.error.json")}, StateFailed, "Error message"},
		{"unknown status on 2xx", reply{code: 200, body: `{"status":"queued"}`}, StateUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, tt.reply)
			sl := &sleepRecorder{}
			r, err := newTestClient(f.srv.URL, sl).Fetch(context.Background(), mustLookup(t, "text2img"), "9", "")
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if r.State() != tt.state || r.Message != tt.msg {
				t.Errorf("State = %v, Message = %q; want %v, %q", r.State(), r.Message, tt.state, tt.msg)
			}
			if n := len(f.requests()); n != 1 || len(sl.got()) != 0 {
				t.Errorf("%d requests, waits %v; want 1 and none", n, sl.got())
			}
		})
	}
}

func TestFetchErrors(t *testing.T) {
	tests := []struct {
		name     string
		reply    reply
		kind     ErrorKind
		requests int
	}{
		{"auth in body", reply{code: 200, body: payloadString(t, "error.legacy.invalid_api_key.json")}, KindAuth, 1},
		{"401", reply{code: 401, body: payloadString(t, "error.401.invalid_key.json")}, KindAuth, 1},
		{"402", reply{code: 402, body: payloadString(t, "error.402.insufficient_credits.json")}, KindCredits, 1},
		{"403", reply{code: 403, body: payloadString(t, "error.403.feature_not_available.json")}, KindForbidden, 1},
		{"500 exhausted", reply{code: 500, body: payloadString(t, "error.500.json")}, KindServer, 3},
		{"429 exhausted", reply{code: 429, body: payloadString(t, "error.429.rate_limit.json")}, KindRateLimited, 3},
		{"rate-limit message exhausted", reply{code: 200, body: payloadString(t, "error.legacy.rate_limit.json")}, KindRateLimited, 3},
		{"network exhausted", reply{hijack: true}, KindNetwork, 3},
		{"not json", reply{code: 200, body: "<html></html>"}, KindDecode, 1},
		{"400 unknown body", reply{code: 400, body: `{"message":"Bad request"}`}, KindRejected, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, tt.reply)
			c := newTestClient(f.srv.URL, &sleepRecorder{}, WithRetry(3, time.Second))
			r, err := c.Fetch(context.Background(), mustLookup(t, "text2img"), "9", "")
			if err == nil {
				t.Fatalf("Fetch = %+v, want an error", r)
			}
			if e := asAPIError(t, err); e.Kind != tt.kind || !strings.HasPrefix(e.Error(), "fetch 9: ") {
				t.Errorf("error %q kind %v, want %v", e, e.Kind, tt.kind)
			}
			if n := len(f.requests()); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestFetchUsesFetchResultOnlyWhenTrusted(t *testing.T) {
	good := `{"status":"success","id":42,"output":["https://x/42.png"]}`
	api := newFakeAPI(t, reply{code: 200, body: good})
	other := newFakeAPI(t, reply{code: 200, body: good}) // must never be contacted
	c := newTestClient(api.srv.URL, &sleepRecorder{})
	ep := mustLookup(t, "controlnet")

	// Untrusted host: the derived URL on the base is used instead.
	if _, err := c.Fetch(context.Background(), ep, "42", other.srv.URL+"/api/v6/images/fetch/42"); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if n := len(other.requests()); n != 0 {
		t.Fatalf("untrusted fetch_result host got %d requests (the key leaked)", n)
	}
	// Same scheme and host as the base: fetch_result is used as is.
	if _, err := c.Fetch(context.Background(), ep, "42", api.srv.URL+"/api/v6/whisper/fetch/42"); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	reqs := api.requests()
	if len(reqs) != 2 || reqs[0].Path != "/api/v6/images/fetch/42" || reqs[1].Path != "/api/v6/whisper/fetch/42" {
		t.Errorf("paths = %+v", reqs)
	}
	// No id and no trusted URL: nothing is sent.
	if _, err := c.Fetch(context.Background(), ep, "", other.srv.URL+"/x"); err == nil {
		t.Error("Fetch without id or trusted URL succeeded")
	}
	if n := len(other.requests()) + len(api.requests()); n != 2 {
		t.Errorf("%d requests in all, want 2", n)
	}
}

func TestRedirectToUntrustedHostIsNotFollowed(t *testing.T) {
	other := newFakeAPI(t)
	api := newFakeAPI(t, reply{code: http.StatusTemporaryRedirect, header: map[string]string{"Location": other.srv.URL + "/steal"}, body: ""})
	_, err := newTestClient(api.srv.URL, &sleepRecorder{}).Fetch(context.Background(), mustLookup(t, "text2img"), "1", "")
	if err == nil {
		t.Fatal("Fetch followed a redirect and succeeded")
	}
	if n := len(other.requests()); n != 0 {
		t.Fatalf("redirect target got %d requests (the key leaked)", n)
	}
}

func TestTrusted(t *testing.T) {
	c := New("http://127.0.0.1:8080/", testKey)
	tests := map[string]bool{
		"https://modelslab.com/api/v6/images/fetch/1":            true,
		"https://MODELSLAB.com/api/v6/images/fetch/1":            true,
		"https://api.modelslab.com/fetch/1":                      true,
		"https://modelslab.com:443/fetch/1":                      true,
		"https://stablediffusionapi.com/api/v3/fetch/1":          true,
		"https://cdn2.stablediffusionapi.com/x":                  true,
		"http://127.0.0.1:8080/api/v6/images/fetch/1":            true,
		"http://127.0.0.1:8081/api/v6/images/fetch/1":            false,
		"https://127.0.0.1:8080/api/v6/images/fetch/1":           false,
		"http://modelslab.com/api/v6/images/fetch/1":             false,
		"https://modelslab.com:8443/fetch/1":                     false,
		"https://evilmodelslab.com/fetch/1":                      false,
		"https://modelslab.com.evil.example/fetch/1":             false,
		"https://user:pw@modelslab.com/fetch/1":                  false,
		"https:modelslab.com/fetch/1":                            false,
		"/api/v6/images/fetch/1":                                 false,
		"":                                                       false,
		"ftp://modelslab.com/x":                                  false,
		"https://modelslab.com./api/v6/images/fetch/1":           true,
		"https://xn--modelslab-xyz.com/api/v6/images/fetch/1":    false,
		"https://stablediffusionapi.com.attacker.io/api/v3/x":    false,
		"https://sub.sub.modelslab.com/api/v6/images/fetch/1":    true,
		"https://modelslab.com\\@evil.example/api/v6/images/f/1": false,
	}
	for u, want := range tests {
		if got := c.Trusted(u); got != want {
			t.Errorf("Trusted(%q) = %v, want %v", u, got, want)
		}
	}
}

func TestDebugNeverShowsTheKey(t *testing.T) {
	echo := `{"status":"error","message":"Invalid Api Key: ` + testKey + `"}`
	f := newFakeAPI(t,
		reply{code: 200, body: payloadString(t, "text2img.response.processing.json")},
		reply{code: 401, body: echo},
	)
	var buf bytes.Buffer
	c := newTestClient(f.srv.URL, &sleepRecorder{}, WithDebug(&buf))
	ep := mustLookup(t, "text2img")
	ep.Auth = AuthBoth
	if _, err := c.Submit(context.Background(), ep, map[string]any{"prompt": "a red fox"}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	// A fetch URL (same host, so trusted) that contains the key.
	_, err := c.Fetch(context.Background(), ep, "1", f.srv.URL+"/api/v6/images/fetch/"+testKey)
	e := asAPIError(t, err)
	if e.Kind != KindAuth || strings.Contains(e.Message, testKey) {
		t.Errorf("error = %+v", e)
	}
	out := buf.String()
	if strings.Contains(out, testKey) || strings.Contains(out, "SECRET123") {
		t.Fatalf("debug output leaks the key:\n%s", out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d debug lines, want 2:\n%s", len(lines), out)
	}
	for _, want := range []string{"POST " + f.srv.URL + "/api/v6/images/text2img", "-> 200", `"prompt":"a red fox"`, `"key":"[redacted]"`, "[header key: [redacted]]", `"id":134701497`, "ms)"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("first debug line lacks %q:\n%s", want, lines[0])
		}
	}
	for _, want := range []string{"/api/v6/images/fetch/[redacted]", "-> 401", "Invalid Api Key: [redacted]"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("second debug line lacks %q:\n%s", want, lines[1])
		}
	}
}

func TestDebugLogsTransportErrors(t *testing.T) {
	f := newFakeAPI(t, reply{hijack: true})
	var buf bytes.Buffer
	_, _ = newTestClient(f.srv.URL, &sleepRecorder{}, WithDebug(&buf)).Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	out := buf.String()
	if !strings.Contains(out, "-> no response") || !strings.Contains(out, "error=") || strings.Contains(out, testKey) {
		t.Errorf("debug output:\n%s", out)
	}
}

func TestDebugShortensLongBodiesAfterRedacting(t *testing.T) {
	// The key straddles the cut: it must be redacted before shortening.
	long := strings.Repeat("a", maxDebugBytes-5) + testKey + strings.Repeat("b", 100)
	got := oneLine([]byte(long), []string{testKey})
	if strings.Contains(got, "sk-te") || strings.Contains(got, "SECRET") {
		t.Errorf("partial key left: …%s", got[len(got)-60:])
	}
	if len(got) > maxDebugBytes+40 {
		t.Errorf("line not shortened: %d bytes", len(got))
	}
}

func TestNewDefaults(t *testing.T) {
	c := New("", "k")
	if c.BaseURL() != DefaultBaseURL || c.maxAttempts != DefaultMaxAttempts || c.maxWait != DefaultMaxWait || c.userAgent != DefaultUserAgent {
		t.Errorf("defaults: %+v", c)
	}
	if New("https://example.test///", "k").BaseURL() != "https://example.test" {
		t.Error("trailing slashes kept")
	}
	c = New("https://example.test", "k", WithRetry(0, 0), WithHTTPClient(nil), WithUserAgent(""), WithSleep(nil))
	if c.maxAttempts != 1 || c.maxWait != DefaultMaxWait || c.hc == nil || c.userAgent != DefaultUserAgent || c.sleep == nil {
		t.Errorf("options with zero values: %+v", c)
	}
	// The caller's http.Client is not modified.
	hc := &http.Client{}
	New("https://example.test", "k", WithHTTPClient(hc))
	if hc.CheckRedirect != nil {
		t.Error("caller's http.Client was modified")
	}
}

// TestRetryAfterPastTheDeadline: a 429 asking for retry_after 600 with 5 s
// left ends the call at the deadline with the API's answer, instead of
// sleeping ten minutes (issue 13: it took 240 s).
func TestRetryAfterPastTheDeadline(t *testing.T) {
	f := newFakeAPI(t, reply{code: 429, body: `{"status":"error","message":"Rate limit exceeded","retry_after":600}`})
	c := New(f.srv.URL, testKey, WithRetry(1000, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Submit(ctx, mustLookup(t, "text2img"), map[string]any{"prompt": "x"})
	el := time.Since(start)
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindRateLimited {
		t.Fatalf("err = %v, want the rate-limit error", err)
	}
	if el < 600*time.Millisecond || el > 1500*time.Millisecond {
		t.Fatalf("returned after %s, want at the 700ms deadline", el)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// TestDefaultClientBoundsEachPhase: a call without a deadline still cannot
// hang forever on a silent server.
func TestDefaultClientBoundsEachPhase(t *testing.T) {
	tr, ok := defaultHTTPClient.Transport.(*http.Transport)
	if !ok || tr.ResponseHeaderTimeout != ResponseHeaderTimeout || tr.TLSHandshakeTimeout != TLSHandshakeTimeout || tr.DialContext == nil {
		t.Fatalf("default transport unbounded: %+v", tr)
	}
	// A server that accepts and never answers: a short deadline ends it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	c := New("http://"+ln.Addr().String(), testKey)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Submit(ctx, mustLookup(t, "text2img"), map[string]any{"prompt": "x"}); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("silent server: err %v after %s", err, time.Since(start))
	}
}

// FetchOnce sends one request whatever the answer: a job wait retries on
// its own schedule, and each request counts against its fetch budget.
func TestFetchOnceSendsOneRequest(t *testing.T) {
	f := newFakeAPI(t,
		reply{code: 503, body: `{"status":"error","message":"busy","retry_after":4}`},
		reply{code: 200, body: payloadString(t, "images.fetch.response.success.json")},
	)
	sl := &sleepRecorder{}
	c := newTestClient(f.srv.URL, sl)
	_, err := c.FetchOnce(context.Background(), mustLookup(t, "text2img"), "13443927", "")
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindServer || ae.RetryAfter != 4*time.Second {
		t.Fatalf("FetchOnce error = %#v, want a server *Error with RetryAfter 4s", err)
	}
	if n := len(f.requests()); n != 1 || len(sl.got()) != 0 {
		t.Fatalf("%d requests and waits %v, want 1 request and no wait", n, sl.got())
	}
	r, err := c.FetchOnce(context.Background(), mustLookup(t, "text2img"), "13443927", "")
	if err != nil || r.State() != StateSuccess {
		t.Fatalf("second FetchOnce = %+v, %v", r, err)
	}
}
