package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "sk-test-secret-123"

func newSandbox(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, ts
}

type answer struct {
	status int
	raw    []byte
	body   map[string]any
	header http.Header
}

func post(t *testing.T, url string, body any, header map[string]string) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(http.MethodPost, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

// do sends req and decodes the answer, which must be a JSON object (numbers
// kept as json.Number).
func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, raw: raw, header: resp.Header}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&a.body); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", req.Method, req.URL, err, raw)
	}
	return a
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func text2img(extra map[string]any) map[string]any {
	b := map[string]any{"key": testKey, "model_id": "sdxl", "prompt": "a red fox", "width": "512", "height": 512}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// keys returns the sorted key set of m, to compare shapes.
func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sortStrings(ks)
	return ks
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func wantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	sortStrings(want)
	if got := keys(m); !reflect.DeepEqual(got, want) {
		t.Errorf("%s keys = %v, want %v", what, got, want)
	}
}

func strs(t *testing.T, v any) []string {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("%v (%T) is not an array", v, v)
	}
	out := make([]string, len(arr))
	for i, x := range arr {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("element %d %v is not a string", i, x)
		}
		out[i] = s
	}
	return out
}

// intID asserts that v is a JSON integer and returns its text.
func intID(t *testing.T, v any) string {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("id %v is %T, want a JSON integer", v, v)
	}
	if _, err := n.Int64(); err != nil {
		t.Fatalf("id %v is not an integer", n)
	}
	return n.String()
}

// waitFor polls cond every few milliseconds for up to 3 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type hook struct {
	header http.Header
	raw    []byte
	body   map[string]any
}

// receiver is an httptest webhook receiver that records every POST.
func receiver(t *testing.T) (*httptest.Server, chan hook) {
	t.Helper()
	ch := make(chan hook, 16)
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		h := hook{header: r.Header.Clone(), raw: raw}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		_ = dec.Decode(&h.body)
		ch <- h
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rs.Close)
	return rs, ch
}

func TestSubmitProcessingShape(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: time.Hour, ETA: 2750 * time.Millisecond})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{
		"webhook": "http://127.0.0.1:1/tok", "track_id": 42, "samples": "2",
	}), nil)
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	wantKeys(t, "processing", a.body, "status", "tip", "tip_1", "eta", "messege", "webhook_status",
		"fetch_result", "id", "output", "meta", "future_links")
	if a.body["status"] != "processing" || a.body["messege"] != "Try to fetch request after seconds estimated" || a.body["webhook_status"] != "" {
		t.Errorf("answer: %s", a.raw)
	}
	if eta := a.body["eta"].(json.Number).String(); eta != "2.75" {
		t.Errorf("eta = %s, want 2.75", eta)
	}
	id := intID(t, a.body["id"])
	if id != "134701497" {
		t.Errorf("first id = %s", id)
	}
	if !bytes.Contains(a.raw, []byte(`"http:\/\/127.0.0.1`)) {
		t.Errorf("no PHP-escaped slashes in raw answer: %s", a.raw)
	}
	if got, want := a.body["fetch_result"], ts.URL+"/api/v6/images/fetch/"+id; got != want {
		t.Errorf("fetch_result = %v, want %s", got, want)
	}
	if out := strs(t, a.body["output"]); len(out) != 0 {
		t.Errorf("output = %v, want []", out)
	}
	fl := strs(t, a.body["future_links"])
	if len(fl) != 2 || !strings.HasPrefix(fl[0], ts.URL+"/generations/") || fl[0] == fl[1] {
		t.Errorf("future_links = %v", fl)
	}
	meta := a.body["meta"].(map[string]any)
	if mo := strs(t, meta["output"]); !reflect.DeepEqual(mo, fl) {
		t.Errorf("meta.output %v != future_links %v", mo, fl)
	}
	if meta["id"] != id {
		t.Errorf("meta.id = %#v, want string %q", meta["id"], id)
	}
	if meta["track_id"] != "42" {
		t.Errorf("meta.track_id = %#v, want string \"42\"", meta["track_id"])
	}
	if meta["webhook"] != "http://127.0.0.1:1/tok" || meta["prompt"] != "a red fox" || meta["model_id"] != "sdxl" {
		t.Errorf("meta echo: %v", meta)
	}
	if meta["W"].(json.Number).String() != "512" || meta["n_samples"].(json.Number).String() != "2" {
		t.Errorf("meta W/n_samples: %v %v", meta["W"], meta["n_samples"])
	}
	// Ids are sequential.
	b := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
	if got := intID(t, b.body["id"]); got != "134701498" {
		t.Errorf("second id = %s", got)
	}
}

func TestSamplesClamped(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: time.Hour})
	for _, tc := range []struct {
		samples any
		want    int
	}{{nil, 1}, {"3", 3}, {10, 4}, {0, 1}, {"x", 1}} {
		body := text2img(nil)
		if tc.samples != nil {
			body["samples"] = tc.samples
		}
		a := post(t, ts.URL+"/api/v6/images/text2img", body, nil)
		if n := len(strs(t, a.body["future_links"])); n != tc.want {
			t.Errorf("samples %v: %d links, want %d", tc.samples, n, tc.want)
		}
	}
}

func TestFetchProcessingThenSuccess(t *testing.T) {
	s, ts := newSandbox(t, Options{Delay: 50 * time.Millisecond})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
	fetchURL := a.body["fetch_result"].(string)
	id := intID(t, a.body["id"])

	p := post(t, fetchURL, map[string]any{"key": testKey}, nil)
	wantKeys(t, "fetch processing", p.body, "status", "messege", "output", "tip")
	if p.body["status"] != "processing" || p.body["messege"] != "try again later." || p.body["output"] != "" {
		t.Errorf("fetch processing: %s", p.raw)
	}

	var done answer
	waitFor(t, "fetch success", func() bool {
		done = post(t, fetchURL, map[string]any{"key": testKey}, nil)
		return done.body["status"] != "processing"
	})
	wantKeys(t, "fetch success", done.body, "status", "id", "output", "proxy_links")
	if done.body["status"] != "success" || intID(t, done.body["id"]) != id {
		t.Errorf("fetch success: %s", done.raw)
	}
	if out, fl := strs(t, done.body["output"]), strs(t, a.body["future_links"]); !reflect.DeepEqual(out, fl) {
		t.Errorf("output %v != future_links %v", out, fl)
	}
	if len(strs(t, done.body["proxy_links"])) != 1 {
		t.Errorf("proxy_links: %v", done.body["proxy_links"])
	}
	if st := s.Stats(); st.Fetches < 2 || st.Submits != 1 || st.Jobs != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestOutputs404ThenPNG(t *testing.T) {
	s, ts := newSandbox(t, Options{Delay: 50 * time.Millisecond})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"samples": 2}), nil)
	links := strs(t, a.body["future_links"])
	if code, _, _ := get(t, links[0]); code != http.StatusNotFound {
		t.Fatalf("before done: %d, want 404", code)
	}
	var bodies [][]byte
	waitFor(t, "output file", func() bool {
		code, _, _ := get(t, links[0])
		return code == 200
	})
	for _, l := range links {
		code, h, b := get(t, l)
		if code != 200 || h.Get("Content-Type") != "image/png" || h.Get("Content-Length") == "" {
			t.Fatalf("GET %s: %d %v", l, code, h)
		}
		img, format, err := image.Decode(bytes.NewReader(b))
		if err != nil || format != "png" || img.Bounds().Dx() != 64 {
			t.Fatalf("decode %s: %v %s", l, err, format)
		}
		bodies = append(bodies, b)
	}
	if bytes.Equal(bodies[0], bodies[1]) {
		t.Error("both samples are the same file")
	}
	// The proxy link serves the same file.
	f := post(t, a.body["fetch_result"].(string), map[string]any{"key": testKey}, nil)
	_, _, pb := get(t, strs(t, f.body["proxy_links"])[0])
	if !bytes.Equal(pb, bodies[0]) {
		t.Error("proxy link differs from output")
	}
	// Out of range sample, wrong extension, unknown id.
	for _, u := range []string{"/generations/134701497-2.png", "/generations/134701497-0.jpg", "/generations/1-0.png"} {
		if code, _, _ := get(t, ts.URL+u); code != 404 {
			t.Errorf("GET %s: %d, want 404", u, code)
		}
	}
	if st := s.Stats(); st.Downloads != 4 {
		t.Errorf("Downloads = %d, want 4", st.Downloads)
	}
}

func TestWebhookDelivered(t *testing.T) {
	rs, ch := receiver(t)
	s, ts := newSandbox(t, Options{Delay: 50 * time.Millisecond})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{
		"webhook": rs.URL + "/secret-token", "track_id": "job-1",
	}), nil)
	var h hook
	select {
	case h = <-ch:
	case <-time.After(3 * time.Second):
		t.Fatal("no webhook")
	}
	wantKeys(t, "webhook", h.body, "status", "id", "output", "generationTime", "track_id", "meta")
	if h.body["status"] != "success" || h.body["track_id"] != "job-1" {
		t.Errorf("webhook: %s", h.raw)
	}
	if intID(t, h.body["id"]) != intID(t, a.body["id"]) {
		t.Errorf("webhook id %v, submit id %v", h.body["id"], a.body["id"])
	}
	if out, fl := strs(t, h.body["output"]), strs(t, a.body["future_links"]); !reflect.DeepEqual(out, fl) {
		t.Errorf("webhook output %v != future_links %v", out, fl)
	}
	if !bytes.Contains(h.raw, []byte(`:\/\/`)) {
		t.Errorf("webhook body has no escaped slashes: %s", h.raw)
	}
	if ct := h.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if ua := h.header.Get("User-Agent"); !strings.HasPrefix(ua, "ModelsLab-Webhook/") {
		t.Errorf("User-Agent %q", ua)
	}
	// The files are ready when the webhook arrives.
	if code, _, _ := get(t, strs(t, h.body["output"])[0]); code != 200 {
		t.Errorf("output after webhook: %d", code)
	}
	waitFor(t, "WebhooksSent", func() bool { return s.Stats().WebhooksSent == 1 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(ch) != 0 {
		t.Errorf("%d extra webhooks", len(ch))
	}
}

func TestDuplicateWebhooks(t *testing.T) {
	rs, ch := receiver(t)
	s, ts := newSandbox(t, Options{Delay: 20 * time.Millisecond, DuplicateWebhooks: true})
	post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL, "track_id": "dup"}), nil)
	for i := range 2 {
		select {
		case h := <-ch:
			if h.body["track_id"] != "dup" {
				t.Errorf("webhook %d: %s", i, h.raw)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("webhook %d never came", i)
		}
	}
	waitFor(t, "WebhooksSent", func() bool { return s.Stats().WebhooksSent == 2 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(ch) != 0 || s.Stats().WebhooksSent != 2 {
		t.Errorf("extra webhooks: %d, stats %+v", len(ch), s.Stats())
	}
}

func TestDropWebhooks(t *testing.T) {
	rs, ch := receiver(t)
	s, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond, DropWebhooks: true})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL, "track_id": "x"}), nil)
	waitFor(t, "job done", func() bool {
		return post(t, a.body["fetch_result"].(string), map[string]any{"key": testKey}, nil).body["status"] == "success"
	})
	time.Sleep(50 * time.Millisecond)
	if len(ch) != 0 || s.Stats().WebhooksSent != 0 {
		t.Errorf("webhook sent despite DropWebhooks: %d, %+v", len(ch), s.Stats())
	}
}

func TestWebhookDelay(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond, WebhookDelay: 150 * time.Millisecond})
	start := time.Now()
	post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil)
	select {
	case h := <-ch:
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("webhook after %v, want >= 160ms", d)
		}
		if h.body["track_id"] != nil {
			t.Errorf("track_id not sent, got %#v", h.body["track_id"])
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no webhook")
	}
}

func TestFail(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 20 * time.Millisecond, Fail: true, FailMessage: "Processing failed: out of memory"})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL, "track_id": "f-1"}), nil)
	if a.body["status"] != "processing" {
		t.Fatalf("submit: %s", a.raw)
	}
	id := intID(t, a.body["id"])
	select {
	case h := <-ch:
		wantKeys(t, "failed webhook", h.body, "status", "id", "message", "track_id")
		if h.body["status"] != "failed" || h.body["message"] != "Processing failed: out of memory" || h.body["track_id"] != "f-1" || intID(t, h.body["id"]) != id {
			t.Errorf("failed webhook: %s", h.raw)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no webhook")
	}
	f := post(t, a.body["fetch_result"].(string), map[string]any{"key": testKey}, nil)
	wantKeys(t, "failed fetch", f.body, "status", "id", "message", "output")
	if f.body["status"] != "failed" || f.body["id"] != id || f.body["output"] != "" || f.body["message"] != "Processing failed: out of memory" {
		t.Errorf("failed fetch: %s", f.raw)
	}
	if code, _, _ := get(t, strs(t, a.body["future_links"])[0]); code != 404 {
		t.Errorf("output of failed job: %d, want 404", code)
	}
}

func TestImmediate(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: time.Hour, Immediate: true})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL, "track_id": "i"}), nil)
	wantKeys(t, "immediate", a.body, "status", "generationTime", "id", "output", "proxy_links", "meta")
	if a.body["status"] != "success" {
		t.Fatalf("immediate: %s", a.raw)
	}
	intID(t, a.body["id"])
	out := strs(t, a.body["output"])
	code, _, b := get(t, out[0])
	if code != 200 {
		t.Fatalf("output: %d", code)
	}
	if _, _, err := image.Decode(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-ch:
		if h.body["status"] != "success" || h.body["track_id"] != "i" {
			t.Errorf("webhook: %s", h.raw)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no webhook for an immediate job")
	}
}

func TestImmediateFail(t *testing.T) {
	_, ts := newSandbox(t, Options{Immediate: true, Fail: true})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
	if a.body["status"] != "failed" || a.body["message"] != "Failed, Try Again" || a.body["output"] != "" {
		t.Errorf("immediate failure: %s", a.raw)
	}
}

func TestRateLimit(t *testing.T) {
	s, ts := newSandbox(t, Options{Delay: time.Hour, RateLimit: 2, RetryAfter: 3 * time.Second})
	for i := range 2 {
		a := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
		if a.status != http.StatusTooManyRequests {
			t.Fatalf("submit %d: %d %s", i, a.status, a.raw)
		}
		wantKeys(t, "429", a.body, "status", "message", "retry_after")
		if a.body["status"] != "error" || a.body["message"] != "Rate limit exceeded. Maximum 5 queued requests allowed." ||
			a.body["retry_after"].(json.Number).String() != "3" {
			t.Errorf("429 body: %s", a.raw)
		}
	}
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
	if a.status != 200 || a.body["status"] != "processing" {
		t.Fatalf("third submit: %d %s", a.status, a.raw)
	}
	if got := intID(t, a.body["id"]); got != "134701497" {
		t.Errorf("rate-limited submits used ids: first job id %s", got)
	}
	if st := s.Stats(); st.Submits != 3 || st.RateLimited != 2 || st.Jobs != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRetryAfterFraction(t *testing.T) {
	_, ts := newSandbox(t, Options{RateLimit: 1, RetryAfter: 50 * time.Millisecond})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
	if a.body["retry_after"].(json.Number).String() != "0.05" {
		t.Errorf("retry_after: %s", a.raw)
	}
}

func TestKey(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: time.Hour, Key: "good"})
	checkInvalid := func(what string, a answer) {
		t.Helper()
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", what, a.status)
		}
		wantKeys(t, what, a.body, "status", "message", "tip")
		if a.body["status"] != "error" || a.body["message"] != "Invalid Api Key" || !strings.HasPrefix(a.body["tip"].(string), "1. Make sure") {
			t.Errorf("%s: %s", what, a.raw)
		}
	}
	checkInvalid("wrong key", post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"key": "bad"}), nil))
	noKey := text2img(nil)
	delete(noKey, "key")
	checkInvalid("missing key", post(t, ts.URL+"/api/v6/images/text2img", noKey, nil))
	checkInvalid("wrong key fetch", post(t, ts.URL+"/api/v6/images/fetch/134701497", map[string]any{"key": "bad"}, nil))

	if a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"key": "good"}), nil); a.status != 200 {
		t.Errorf("good key: %d %s", a.status, a.raw)
	}
	if a := post(t, ts.URL+"/api/v7/images/text-to-image", noKey, map[string]string{"key": "good"}); a.status != 200 {
		t.Errorf("good key in header: %d %s", a.status, a.raw)
	}
	// Without Options.Key any non-empty key is fine, an empty one is not.
	_, open := newSandbox(t, Options{Delay: time.Hour})
	if a := post(t, open.URL+"/api/v6/images/text2img", text2img(map[string]any{"key": "anything"}), nil); a.status != 200 {
		t.Errorf("any key: %d", a.status)
	}
	checkInvalid("empty key", post(t, open.URL+"/api/v6/images/text2img", text2img(map[string]any{"key": ""}), nil))
}

func TestInvalidJSON(t *testing.T) {
	_, ts := newSandbox(t, Options{})
	for _, body := range []string{"key=x&prompt=y", "[1,2]", `{"key":"x"} trailing`} {
		a := post(t, ts.URL+"/api/v6/images/text2img", body, nil)
		if a.status != 400 || a.body["message"] != "Invalid API Request" || a.body["tip"] == nil {
			t.Errorf("%q: %d %s", body, a.status, a.raw)
		}
	}
}

func TestPromptRequired(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: time.Hour})
	// v7 answers a missing prompt HTTP 200 with an object message: TestV7SubmitErrors.
	for _, p := range []string{"/api/v6/images/text2img", "/api/v6/video/text2video",
		"/api/v6/3d/text_to_3d", "/api/v6/voice/text_to_speech", "/api/v6/voice/sfx", "/api/v6/voice/lyrics_generator"} {
		a := post(t, ts.URL+p, map[string]any{"key": testKey, "prompt": "  "}, nil)
		if a.status != 400 {
			t.Errorf("%s: %d, want 400", p, a.status)
		}
		wantKeys(t, p, a.body, "status", "message")
		if a.body["status"] != "error" || a.body["message"] != "prompt is required" {
			t.Errorf("%s: %s", p, a.raw)
		}
	}
	// img2img does not need one.
	if a := post(t, ts.URL+"/api/v6/images/img2img", map[string]any{"key": testKey, "init_image": "http://x/y.png"}, nil); a.status != 200 {
		t.Errorf("img2img without prompt: %d %s", a.status, a.raw)
	}
}

func TestFetchUnknownID(t *testing.T) {
	_, ts := newSandbox(t, Options{})
	for _, a := range []answer{
		post(t, ts.URL+"/api/v6/images/fetch/999", map[string]any{"key": testKey}, nil),
		post(t, ts.URL+"/api/v6/images/fetch", map[string]any{"key": testKey, "request_id": "999"}, nil),
		post(t, ts.URL+"/api/v6/images/fetch", map[string]any{"key": testKey}, nil),
	} {
		if a.status != 200 {
			t.Errorf("status %d", a.status)
		}
		wantKeys(t, "not found", a.body, "status", "id", "message", "output", "tip")
		if a.body["status"] != "failed" || a.body["id"] != "" || a.body["message"] != "Request not found" || a.body["output"] != "" {
			t.Errorf("unknown id: %s", a.raw)
		}
	}
}

func TestFetchRequestID(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
	id := intID(t, a.body["id"])
	waitFor(t, "done", func() bool {
		f := post(t, ts.URL+"/api/v6/images/fetch", map[string]any{"key": testKey, "request_id": id}, nil)
		return f.body["status"] == "success"
	})
	// request_id as a number, the v4 dreambooth style and the v3 style.
	n, _ := a.body["id"].(json.Number).Int64()
	for _, f := range []answer{
		post(t, ts.URL+"/api/v6/images/fetch", map[string]any{"key": testKey, "request_id": n}, nil),
		post(t, ts.URL+"/api/v4/dreambooth/fetch", map[string]any{"key": testKey, "request_id": id}, nil),
		post(t, ts.URL+"/api/v3/fetch/"+id, map[string]any{"key": testKey}, nil),
	} {
		if f.body["status"] != "success" || intID(t, f.body["id"]) != id {
			t.Errorf("fetch: %s", f.raw)
		}
	}
}

func TestRequestsRedactKey(t *testing.T) {
	s, ts := newSandbox(t, Options{Delay: time.Hour})
	post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
	post(t, ts.URL+"/api/v7/images/fetch/1", nil, map[string]string{"key": testKey})
	post(t, ts.URL+"/api/v6/images/text2img", "not json", nil)
	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	r0 := reqs[0]
	if r0.Method != "POST" || r0.Path != "/api/v6/images/text2img" || r0.Body["key"] != "[redacted]" || r0.Body["prompt"] != "a red fox" || r0.HeaderKey || r0.Status != 200 || r0.Time.IsZero() {
		t.Errorf("request 0: %+v", r0)
	}
	if !reqs[1].HeaderKey || reqs[1].Body != nil { // empty body
		t.Errorf("request 1: %+v", reqs[1])
	}
	if reqs[2].Body != nil || reqs[2].Status != 400 {
		t.Errorf("request 2: %+v", reqs[2])
	}
	code, h, raw := get(t, ts.URL+"/_sandbox/requests")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("/_sandbox/requests: %d", code)
	}
	if bytes.Contains(raw, []byte(testKey)) {
		t.Errorf("key leaked: %s", raw)
	}
	var list []Request
	if err := json.Unmarshal(raw, &list); err != nil || len(list) != 3 || list[0].Body["key"] != "[redacted]" {
		t.Errorf("decode /_sandbox/requests: %v %s", err, raw)
	}
}

func TestLogNeverHasKey(t *testing.T) {
	var mu sync.Mutex
	var log strings.Builder
	rs, ch := receiver(t)
	s, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond, Logf: func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := json.Marshal(a)
		log.WriteString(f + string(b) + "\n")
	}})
	post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL + "/tok-very-secret"}), nil)
	<-ch
	waitFor(t, "webhook logged", func() bool { return s.Stats().WebhooksSent == 1 })
	mu.Lock()
	defer mu.Unlock()
	out := log.String()
	if strings.Contains(out, testKey) || strings.Contains(out, "very-secret") {
		t.Errorf("log leaks secrets:\n%s", out)
	}
	if !strings.Contains(out, "webhook") || !strings.Contains(out, "204") {
		t.Errorf("log lacks the webhook answer:\n%s", out)
	}
}

func TestClosePendingWebhook(t *testing.T) {
	rs, ch := receiver(t)
	s := New(Options{Delay: 50 * time.Millisecond})
	ts := httptest.NewServer(s)
	defer ts.Close()
	post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	if len(ch) != 0 || s.Stats().WebhooksSent+s.Stats().WebhookErrors != 0 {
		t.Errorf("webhook sent after Close: %d %+v", len(ch), s.Stats())
	}
	// After Close, new jobs schedule nothing.
	post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil)
	time.Sleep(120 * time.Millisecond)
	if len(ch) != 0 {
		t.Error("webhook of a job created after Close")
	}
}

func TestCloseAbortsWebhookInFlight(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer rs.Close()
	defer close(release)
	before := runtime.NumGoroutine()
	s := New(Options{Delay: 10 * time.Millisecond, DuplicateWebhooks: true})
	ts := httptest.NewServer(s)
	post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil)
	select {
	case <-arrived:
	case <-time.After(3 * time.Second):
		t.Fatal("webhook never started")
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with a hanging receiver", d)
	}
	ts.Close()
	if st := s.Stats(); st.WebhookErrors != 1 || st.WebhooksSent != 0 {
		t.Errorf("stats %+v: the duplicate must not be sent after Close", st)
	}
	select {
	case <-arrived:
		t.Error("second webhook after Close")
	default:
	}
	// Every goroutine the sandbox started has ended.
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before+2 })
}

func TestStart(t *testing.T) {
	s := New(Options{Delay: 10 * time.Millisecond})
	base, err := s.Start("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") || s.URL() != base {
		t.Fatalf("base %q, URL %q", base, s.URL())
	}
	if _, err := s.Start(""); err == nil {
		t.Error("second Start succeeded")
	}
	code, _, b := get(t, base+"/_sandbox/health")
	if code != 200 || strings.TrimSpace(string(b)) != `{"status":"ok"}` {
		t.Errorf("health: %d %s", code, b)
	}
	a := post(t, base+"/api/v6/images/text2img", text2img(nil), nil)
	if !strings.HasPrefix(a.body["fetch_result"].(string), base+"/api/v6/images/fetch/") {
		t.Errorf("fetch_result %v not on %s", a.body["fetch_result"], base)
	}
	code, _, b = get(t, base+"/_sandbox/stats")
	var st Stats
	if err := json.Unmarshal(b, &st); err != nil || code != 200 || st.Submits != 1 || st.Jobs != 1 {
		t.Errorf("stats: %d %s", code, b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get(base + "/_sandbox/health"); err == nil {
		t.Error("still serving after Close")
	}
	if _, err := s.Start(""); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	_, ts := newSandbox(t, Options{})
	for _, p := range []string{"/", "/nope", "/api/v2/images/text2img", "/api/v1/workflows", "/api/v6/images/fetch/1/extra", "/api/v6/a/b/c", "/api//x"} {
		a := post(t, ts.URL+p, map[string]any{"key": testKey}, nil)
		if a.status != 404 || a.body["status"] != "error" || a.body["message"] != "Not found" {
			t.Errorf("POST %s: %d %s", p, a.status, a.raw)
		}
	}
	code, h, _ := get(t, ts.URL+"/api/v6/images/fetch/1")
	if code != http.StatusMethodNotAllowed || h.Get("Allow") != "POST" {
		t.Errorf("GET fetch: %d", code)
	}
}

func TestStringIDs(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond, StringIDs: true})
	a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil)
	if a.body["id"] != "134701497" {
		t.Fatalf("id %#v, want a string", a.body["id"])
	}
	h := <-ch
	if h.body["id"] != "134701497" {
		t.Errorf("webhook id %#v", h.body["id"])
	}
	f := post(t, a.body["fetch_result"].(string), map[string]any{"key": testKey}, nil)
	if f.body["id"] != "134701497" {
		t.Errorf("fetch id %#v", f.body["id"])
	}
}

func TestOtherServices(t *testing.T) {
	// v7 answers carry no fetch_result: see TestV7Paths.
	_, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond})
	cases := []struct {
		path  string
		body  map[string]any
		fetch string // fetch_result path prefix
		check func([]byte) bool
	}{
		{"/api/v6/voice/text_to_speech", map[string]any{"prompt": "hi", "voice_id": "madison"}, "/api/v6/voice/fetch/",
			func(b []byte) bool { return bytes.HasPrefix(b, []byte("RIFF")) && string(b[8:12]) == "WAVE" }},
		{"/api/v6/voice/speech_to_text", map[string]any{"init_audio": "http://x/a.wav"}, "/api/v6/whisper/fetch/",
			func(b []byte) bool { return bytes.Contains(b, []byte("transcript")) }},
		{"/api/v6/3d/text_to_3d", map[string]any{"prompt": "a ghost"}, "/api/v6/3d/fetch/",
			func(b []byte) bool { return string(b[:4]) == "glTF" && len(b)%4 == 0 }},
		{"/api/v6/3d/text_to_3d", map[string]any{"prompt": "a ghost", "output_format": "obj"}, "/api/v6/3d/fetch/",
			func(b []byte) bool { return bytes.Contains(b, []byte("\nf 1 2 3")) }},
		{"/api/v6/video/text2video", map[string]any{"prompt": "a horse", "model_id": "wan2.2", "output_type": "gif"}, "/api/v6/video/fetch/",
			func(b []byte) bool { _, f, err := image.Decode(bytes.NewReader(b)); return err == nil && f == "gif" }},
		{"/api/v6/video/text2video", map[string]any{"prompt": "a horse", "model_id": "wan2.2"}, "/api/v6/video/fetch/",
			func(b []byte) bool { return len(b) > 12 && string(b[4:8]) == "ftyp" }},
		{"/api/v5/controlnet", map[string]any{"prompt": "x", "controlnet_model": "canny"}, "/api/v6/images/fetch/",
			func(b []byte) bool { _, f, err := image.Decode(bytes.NewReader(b)); return err == nil && f == "png" }},
		{"/api/v3/text2img", map[string]any{"prompt": "x"}, "/api/v6/images/fetch/",
			func(b []byte) bool { _, f, err := image.Decode(bytes.NewReader(b)); return err == nil && f == "png" }},
	}
	for _, tc := range cases {
		tc.body["key"] = testKey
		a := post(t, ts.URL+tc.path, tc.body, nil)
		if a.status != 200 || a.body["status"] != "processing" {
			t.Errorf("%s: %d %s", tc.path, a.status, a.raw)
			continue
		}
		fr := a.body["fetch_result"].(string)
		if !strings.HasPrefix(fr, ts.URL+tc.fetch) {
			t.Errorf("%s: fetch_result %s, want prefix %s", tc.path, fr, tc.fetch)
		}
		image := strings.Contains(tc.fetch, "/images/")
		if _, ok := a.body["messege"]; ok != image {
			t.Errorf("%s: messege present = %v", tc.path, ok)
		}
		if _, ok := a.body["message"]; ok == image {
			t.Errorf("%s: message present = %v", tc.path, ok)
		}
		var f answer
		waitFor(t, tc.path, func() bool {
			f = post(t, fr, map[string]any{"key": testKey}, nil)
			return f.body["status"] == "success"
		})
		code, h, b := get(t, strs(t, f.body["output"])[0])
		if code != 200 || h.Get("Content-Type") == "" || !tc.check(b) {
			t.Errorf("%s: output %d %s, %d bytes", tc.path, code, h.Get("Content-Type"), len(b))
		}
	}
}

func TestRequestCount(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: time.Hour})
	post(t, ts.URL+"/api/v6/images/text2img", text2img(nil), nil)
	a := post(t, ts.URL+"/api/v6/processing/request_count", map[string]any{"key": testKey}, nil)
	if a.body["status"] != "success" || a.body["processing_count"].(json.Number).String() != "1" {
		t.Errorf("request_count: %s", a.raw)
	}
}

func TestPHPJSON(t *testing.T) {
	got, err := phpJSON(object{{"url", "https://a/b"}, {"s", "é😀<&>"}, {"n", 1.5}, {"a", []string{}}, {"o", object{{"z", nil}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"url":"https:\/\/a\/b","s":"\u00e9\ud83d\ude00<&>","n":1.5,"a":[],"o":{"z":null}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var back map[string]any
	if err := json.Unmarshal(got, &back); err != nil || back["url"] != "https://a/b" || back["s"] != "é😀<&>" {
		t.Errorf("round trip: %v %v", err, back)
	}
}

// TestWebhookFirst: under WebhookFirst a job whose webhook POST is still
// unanswered is not done to a fetch or to a probe of its files (without
// it, both say done while the POST is held: the race they can win), while
// a plain download finds the files; once the POST is answered both see
// the job done. A dropped or late webhook, or a webhook URL that refuses
// connections, holds nothing back.
func TestWebhookFirst(t *testing.T) {
	// A probe of the job's file, in-process (see hit).
	probe := func(s *Server, link string) int { return hit(s, http.MethodHead, link, "").Code }
	for _, first := range []bool{false, true} {
		t.Run(fmt.Sprintf("first=%v", first), func(t *testing.T) {
			got := make(chan struct{})
			release := make(chan struct{})
			rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(got)
				<-release
			}))
			defer rs.Close()
			s, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond, WebhookFirst: first})
			a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil)
			link := strs(t, a.body["future_links"])[0]
			select {
			case <-got:
			case <-time.After(3 * time.Second):
				t.Fatal("no webhook")
			}
			want := 200
			if first {
				want = 404
			}
			if code := probe(s, link); code != want {
				t.Errorf("a probe while the webhook is unanswered: %d, want %d", code, want)
			}
			if code, _, _ := get(t, link); code != 200 {
				t.Errorf("a download while the webhook is unanswered: %d, want 200", code)
			}
			fetch := func() any {
				return post(t, a.body["fetch_result"].(string), map[string]any{"key": testKey}, nil).body["status"]
			}
			wantStatus := "success"
			if first {
				wantStatus = "processing"
			}
			if st := fetch(); st != wantStatus {
				t.Errorf("a fetch while the webhook is unanswered: %v, want %s", st, wantStatus)
			}
			close(release)
			waitFor(t, "done after the webhook", func() bool { return probe(s, link) == 200 && fetch() == "success" })
		})
	}
	for name, o := range map[string]Options{
		"dropped": {DropWebhooks: true},
		"late":    {LateWebhookRate: 1, LateWebhookDelay: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			rs, _ := receiver(t)
			o.Delay, o.WebhookFirst = 10*time.Millisecond, true
			s, ts := newSandbox(t, o)
			a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil)
			waitFor(t, "the files probed without the webhook", func() bool { return probe(s, strs(t, a.body["future_links"])[0]) == 200 })
		})
	}
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + l.Addr().String() + "/hook"
		l.Close()
		s, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond, WebhookFirst: true})
		a := post(t, ts.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": dead}), nil)
		waitFor(t, "the files probed after the failed POST", func() bool { return probe(s, strs(t, a.body["future_links"])[0]) == 200 })
		if s.Stats().WebhookErrors != 1 {
			t.Errorf("stats %+v, want one webhook error", s.Stats())
		}
	})
}
