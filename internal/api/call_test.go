package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func (f *fakeAPI) setReplies(r ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies = r
}

func TestWorkflowSubmitAndFetch(t *testing.T) {
	f := newFakeAPI(t)
	statusURL := f.srv.URL + "/api/v1/workflows/wf-1/runs/12345"
	run := strings.Replace(payloadString(t, "workflows.run.response.json"),
		"https://modelslab.com/api/v1/workflows/uuid-string/runs/12345", statusURL, 1)
	f.setReplies(
		reply{code: 202, body: run},
		reply{code: 200, body: payloadString(t, "workflows.status.response.running.json")},
		reply{code: 200, body: payloadString(t, "workflows.status.response.completed.json")},
	)
	var log bytes.Buffer
	c := newTestClient(f.srv.URL, &sleepRecorder{}, WithDebug(&log))
	ep := mustLookup(t, "workflow_run").WithPathParams(map[string]string{"workflow_id": "wf-1"})
	ctx := context.Background()

	r, err := c.Submit(ctx, ep, map[string]any{"prompt": "a sunset", "width": 1024, "key": "caller-key"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if r.State() != StateProcessing || r.ID != "12345" || r.FetchURL != statusURL {
		t.Fatalf("Submit = %+v", r)
	}
	r, err = c.Fetch(ctx, ep, r.ID, r.FetchURL)
	if err != nil || r.State() != StateProcessing || r.Stage != "running" {
		t.Fatalf("Fetch 1 = %+v, %v", r, err)
	}
	// Without a status_url the path is derived from the row.
	r, err = c.Fetch(ctx, ep, "12345", "")
	if err != nil || r.State() != StateSuccess || len(r.Output) != 1 || r.Output[0] != "https://cdn.modelslab.com/generated/image1.png" {
		t.Fatalf("Fetch 2 = %+v, %v", r, err)
	}

	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	sub := reqs[0]
	if sub.Method != http.MethodPost || sub.Path != "/api/v1/workflows/wf-1/run" || sub.HeaderKey != testKey || sub.ContentType != "application/json" {
		t.Errorf("submit = %s %s header key %q ct %q", sub.Method, sub.Path, sub.HeaderKey, sub.ContentType)
	}
	if _, has := sub.Body["key"]; has || sub.Body["prompt"] != "a sunset" || sub.Body["width"] != float64(1024) {
		t.Errorf("submit body = %s", sub.Raw)
	}
	for i, q := range reqs[1:] {
		if q.Method != http.MethodGet || q.Path != "/api/v1/workflows/wf-1/runs/12345" || q.HeaderKey != testKey || len(q.Raw) != 0 || q.ContentType != "" {
			t.Errorf("fetch %d = %s %s header key %q body %q ct %q", i+1, q.Method, q.Path, q.HeaderKey, q.Raw, q.ContentType)
		}
	}
	out := log.String()
	if strings.Contains(out, testKey) || strings.Contains(out, "caller-key") {
		t.Errorf("debug log leaks a key:\n%s", out)
	}
	for _, want := range []string{"POST " + f.srv.URL + "/api/v1/workflows/wf-1/run", "GET " + statusURL + " [header key: [redacted]]", "request=(no body)", "-> 202"} {
		if !strings.Contains(out, want) {
			t.Errorf("debug log lacks %q:\n%s", want, out)
		}
	}
}

func TestWorkflowFetchIgnoresUntrustedStatusURL(t *testing.T) {
	f := newFakeAPI(t, reply{code: 200, body: payloadString(t, "workflows.status.response.failed.json")})
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	ep := mustLookup(t, "workflow_run").WithPathParams(map[string]string{"workflow_id": "wf-1"})
	r, err := c.Fetch(context.Background(), ep, "12345", "http://evil.example/api/v1/workflows/wf-1/runs/12345")
	if err != nil {
		t.Fatal(err)
	}
	if r.State() != StateFailed || r.Message != "Image generation failed: Invalid prompt" {
		t.Errorf("Fetch = %+v", r)
	}
	if q := f.requests(); len(q) != 1 || q[0].Path != "/api/v1/workflows/wf-1/runs/12345" {
		t.Errorf("requests = %+v", q)
	}
}

func TestWorkflowSubmitRejected(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
		msg   string
	}{
		{"404 unknown workflow", reply{code: 404, body: `{"status":"error","message":"Workflow not found or not API-enabled."}`},
			"Workflow not found or not API-enabled."},
		{"404 message only", reply{code: 404, body: `{"message":"Workflow not found."}`}, "Workflow not found."},
		{"422 validation", reply{code: 422, body: `{"message":"The given data was invalid.","errors":{"prompt":["The prompt field is required."]}}`},
			"prompt: The prompt field is required."},
		{"422 two errors", reply{code: 422, body: `{"status":"error","message":"The prompt field is required. (and 1 more error)","errors":{"prompt":["The prompt field is required."],"width":["The width field is required."]}}`},
			"prompt: The prompt field is required.; width: The width field is required."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, tt.reply)
			sl := &sleepRecorder{}
			c := newTestClient(f.srv.URL, sl)
			ep := mustLookup(t, "workflow_run").WithPathParams(map[string]string{"workflow_id": "nope"})
			r, err := c.Submit(context.Background(), ep, map[string]any{})
			if err == nil {
				t.Fatalf("Submit = %+v", r)
			}
			e := asAPIError(t, err)
			if e.Kind != KindRejected || e.HTTPStatus != tt.reply.code || e.Message != tt.msg {
				t.Errorf("error = %v kind %v HTTP %d message %q", e, e.Kind, e.HTTPStatus, e.Message)
			}
			if len(f.requests()) != 1 || len(sl.got()) != 0 {
				t.Errorf("%d requests, waits %v", len(f.requests()), sl.got())
			}
		})
	}
}

func TestUnsetPathParamIsNotSent(t *testing.T) {
	f := newFakeAPI(t)
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	ep := mustLookup(t, "workflow_run")
	_, err := c.Submit(context.Background(), ep, map[string]any{"prompt": "x"})
	if e := asAPIError(t, err); e.Kind != KindRejected || !strings.Contains(e.Message, "workflow_id") {
		t.Errorf("Submit error = %v (%v)", err, e.Kind)
	}
	_, err = c.Fetch(context.Background(), ep, "12345", "")
	if e := asAPIError(t, err); e.Kind != KindRejected || !strings.Contains(e.Message, "workflow_id") {
		t.Errorf("Fetch error = %v (%v)", err, e.Kind)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestTrainingSubmitAndFetch(t *testing.T) {
	f := newFakeAPI(t,
		reply{code: 200, body: payloadString(t, "lora_fine_tune.response.success.json")},
		reply{code: 200, body: `{"status":"success","messege":"training_started","data":"Step:1"}`},
		reply{code: 200, body: payloadString(t, "fine_tune_status.response.success.json")},
	)
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	ep := mustLookup(t, "lora_fine_tune")
	ctx := context.Background()
	r, err := c.Submit(ctx, ep, map[string]any{"instance_prompt": "photo of ambika0 man", "images": []string{"https://x/1.png"}})
	if err != nil || r.State() != StateProcessing || r.ID != "F5jvdzGnYi" || r.Stage != "deploying_gpu" {
		t.Fatalf("Submit = %+v, %v", r, err)
	}
	id := r.ID
	r, err = c.Fetch(ctx, ep, id, r.FetchURL)
	if err != nil || r.State() != StateProcessing || r.Stage != "training_started" {
		t.Fatalf("Fetch 1 = %+v, %v", r, err)
	}
	r, err = c.Fetch(ctx, ep, id, "")
	if err != nil || r.State() != StateSuccess || r.Stage != "model_ready" || !strings.Contains(r.Logs, "Model loaded successfully") {
		t.Fatalf("Fetch 2 = %+v, %v", r, err)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	if q := reqs[0]; q.Method != http.MethodPost || q.Path != "/api/v3/lora_fine_tune" || q.Body["key"] != testKey || q.Body["instance_prompt"] != "photo of ambika0 man" || q.HeaderKey != "" {
		t.Errorf("submit = %s %s %s (header %q)", q.Method, q.Path, q.Raw, q.HeaderKey)
	}
	for _, q := range reqs[1:] {
		if q.Method != http.MethodPost || q.Path != "/api/v3/fine_tune_status/F5jvdzGnYi" || q.Body["key"] != testKey || len(q.Body) != 1 || q.HeaderKey != "" {
			t.Errorf("fetch = %s %s %s (header %q)", q.Method, q.Path, q.Raw, q.HeaderKey)
		}
	}
}

func TestTrainingFetchFailure(t *testing.T) {
	f := newFakeAPI(t, reply{code: 200, body: `{"status":"error","messege":"training_failed","data":"... CUDA out of memory"}`})
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	r, err := c.Fetch(context.Background(), mustLookup(t, "fine_tune"), "abc", "")
	if err != nil || r.State() != StateFailed || !strings.Contains(r.Message, "CUDA out of memory") {
		t.Fatalf("Fetch = %+v, %v", r, err)
	}
}

func TestTrainingSubmitAuthError(t *testing.T) {
	f := newFakeAPI(t, reply{code: 200, body: payloadString(t, "error.legacy.invalid_api_key.json")})
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	_, err := c.Submit(context.Background(), mustLookup(t, "lora_fine_tune"), map[string]any{"instance_prompt": "x", "images": []string{"u"}})
	if e := asAPIError(t, err); e.Kind != KindAuth {
		t.Errorf("error = %v, kind %v", err, e.Kind)
	}
}

func TestUpload(t *testing.T) {
	f := newFakeAPI(t,
		reply{code: 429, body: `{"status":"error","message":"Too many requests","retry_after":2}`},
		reply{code: 200, body: payloadString(t, "base64_to_url.response.success.json")},
	)
	sl := &sleepRecorder{}
	c := newTestClient(f.srv.URL, sl)
	data := []byte("\x89PNG\r\n\x1a\nfake")
	u, err := c.Upload(context.Background(), data, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if u != "https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/temp/8276289141742819873.png" {
		t.Errorf("Upload = %q", u)
	}
	reqs := f.requests()
	if len(reqs) != 2 || len(sl.got()) != 1 {
		t.Fatalf("%d requests, waits %v", len(reqs), sl.got())
	}
	q := reqs[1]
	want := "data:image/png;base64," + base64.StdEncoding.EncodeToString(data)
	if q.Method != http.MethodPost || q.Path != "/api/v6/base64_to_url" || q.Body["key"] != testKey || q.Body["base64_string"] != want || len(q.Body) != 2 {
		t.Errorf("request = %s %s %s", q.Method, q.Path, q.Raw)
	}
}

func TestUploadDefaultMime(t *testing.T) {
	f := newFakeAPI(t, reply{code: 200, body: payloadString(t, "base64_to_url.response.success.json")})
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	if _, err := c.Upload(context.Background(), []byte("x"), ""); err != nil {
		t.Fatal(err)
	}
	if got := f.requests()[0].Body["base64_string"]; got != "data:application/octet-stream;base64,eA==" {
		t.Errorf("base64_string = %v", got)
	}
}

func TestUploadTooLarge(t *testing.T) {
	f := newFakeAPI(t)
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	if _, err := c.Upload(context.Background(), make([]byte, MaxUploadBytes), "image/png"); err != nil {
		t.Fatalf("exactly MaxUploadBytes: %v", err)
	}
	_, err := c.Upload(context.Background(), make([]byte, MaxUploadBytes+1), "image/png")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "5 MB") {
		t.Errorf("error = %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want only the first upload", n)
	}
}

func TestUploadErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
		kind  ErrorKind
	}{
		{"no output", reply{code: 200, body: `{"status":"success","output":[]}`}, KindDecode},
		{"status error", reply{code: 200, body: `{"status":"error","message":"Invalid base64 string"}`}, KindRejected},
		{"401", reply{code: 401, body: payloadString(t, "error.401.invalid_key.json")}, KindAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, tt.reply)
			c := newTestClient(f.srv.URL, &sleepRecorder{})
			u, err := c.Upload(context.Background(), []byte("x"), "image/png")
			if err == nil {
				t.Fatalf("Upload = %q", u)
			}
			if e := asAPIError(t, err); e.Kind != tt.kind {
				t.Errorf("error %v kind %v, want %v", err, e.Kind, tt.kind)
			}
		})
	}
}

func TestCallGet(t *testing.T) {
	f := newFakeAPI(t,
		reply{code: 500, body: payloadString(t, "error.500.json")},
		reply{code: 200, body: payloadString(t, "workflows.list.response.json")},
	)
	sl := &sleepRecorder{}
	c := newTestClient(f.srv.URL+"/", sl)
	raw, err := c.Call(context.Background(), "get", "/api/v1/workflows", AuthHeader, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != payloadString(t, "workflows.list.response.json") {
		t.Errorf("raw = %s", raw)
	}
	reqs := f.requests()
	if len(reqs) != 2 || len(sl.got()) != 1 {
		t.Fatalf("%d requests, waits %v: a GET is retried on 500", len(reqs), sl.got())
	}
	for _, q := range reqs {
		if q.Method != http.MethodGet || q.Path != "/api/v1/workflows" || q.HeaderKey != testKey || len(q.Raw) != 0 {
			t.Errorf("request = %s %s key %q body %q", q.Method, q.Path, q.HeaderKey, q.Raw)
		}
	}
	// A GET has no body: the key goes in the header even for body-auth paths.
	if _, err := c.Call(context.Background(), "GET", "/api/v6/x", AuthBody, nil); err != nil {
		t.Fatal(err)
	}
	if q := f.requests()[2]; q.HeaderKey != testKey || len(q.Raw) != 0 {
		t.Errorf("GET with AuthBody: header key %q, body %q", q.HeaderKey, q.Raw)
	}
	if _, err := c.Call(context.Background(), "GET", "/x", AuthHeader, map[string]any{"a": 1}); err == nil {
		t.Error("GET with a body accepted")
	}
	if _, err := c.Call(context.Background(), "GET", "https://evil.example/x", AuthHeader, nil); err == nil {
		t.Error("absolute URL accepted")
	}
	if len(f.requests()) != 3 {
		t.Error("a refused call was sent")
	}
}

func TestCallPost(t *testing.T) {
	f := newFakeAPI(t, reply{code: 200, body: payloadString(t, "fine_tune_status.response.success.json")})
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	raw, err := c.Call(context.Background(), "POST", "api/v3/fine_tune_status/F5jvdzGnYi", AuthBody, nil)
	if err != nil || !strings.Contains(string(raw), "model_ready") {
		t.Fatalf("Call = %s, %v", raw, err)
	}
	q := f.requests()[0]
	if q.Method != http.MethodPost || q.Path != "/api/v3/fine_tune_status/F5jvdzGnYi" || q.Body["key"] != testKey || len(q.Body) != 1 || q.HeaderKey != "" {
		t.Errorf("request = %s %s %s header %q", q.Method, q.Path, q.Raw, q.HeaderKey)
	}

	f2 := newFakeAPI(t, reply{code: 200, body: payloadString(t, "workflows.cancel.response.json")})
	c2 := newTestClient(f2.srv.URL, &sleepRecorder{})
	if _, err := c2.Call(context.Background(), "POST", "/api/v1/workflows/wf/runs/1/cancel", AuthHeader, map[string]any{"reason": "x"}); err != nil {
		t.Fatal(err)
	}
	q = f2.requests()[0]
	if q.HeaderKey != testKey || q.Body["reason"] != "x" || len(q.Body) != 1 {
		t.Errorf("cancel request = %s header %q", q.Raw, q.HeaderKey)
	}
}

func TestCallErrors(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		reply    reply
		kind     ErrorKind
		requests int
	}{
		{"POST 500 is not retried", "POST", reply{code: 500, body: payloadString(t, "error.500.json")}, KindServer, 1},
		{"POST 503 is retried", "POST", reply{code: 503, body: payloadString(t, "error.503.json")}, KindServer, 3},
		{"GET 404", "GET", reply{code: 404, body: `{"status":"error","message":"Workflow not found"}`}, KindRejected, 1},
		{"GET 400 terminal", "GET", reply{code: 400, body: `{"status":"error","message":"Execution already finished"}`}, KindRejected, 1},
		{"GET 200 status error", "GET", reply{code: 200, body: `{"status":"error","message":"nope"}`}, KindRejected, 1},
		{"GET 401", "GET", reply{code: 401, body: payloadString(t, "error.401.invalid_key.json")}, KindAuth, 1},
		{"GET 429 exhausted", "GET", reply{code: 429, body: payloadString(t, "error.429.rate_limit.json")}, KindRateLimited, 3},
		{"GET 200 html", "GET", reply{code: 200, body: "<html>", header: map[string]string{"Content-Type": "text/html"}}, KindDecode, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, tt.reply)
			c := newTestClient(f.srv.URL, &sleepRecorder{}, WithRetry(3, 0))
			raw, err := c.Call(context.Background(), tt.method, "/api/v1/workflows/x", AuthHeader, nil)
			if err == nil {
				t.Fatalf("Call = %s", raw)
			}
			if e := asAPIError(t, err); e.Kind != tt.kind {
				t.Errorf("error %v kind %v, want %v", err, e.Kind, tt.kind)
			}
			if n := len(f.requests()); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestCallAcceptsEmptyAndArrayBodies(t *testing.T) {
	f := newFakeAPI(t, reply{code: 204}, reply{code: 200, body: `[{"id":"a"}]`})
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	if raw, err := c.Call(context.Background(), "POST", "/x", AuthHeader, nil); err != nil || len(raw) != 0 {
		t.Errorf("204 = %q, %v", raw, err)
	}
	if raw, err := c.Call(context.Background(), "GET", "/x", AuthHeader, nil); err != nil || string(raw) != `[{"id":"a"}]` {
		t.Errorf("array = %q, %v", raw, err)
	}
}

func TestUploadRefusesBadMime(t *testing.T) {
	f := newFakeAPI(t)
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	if _, err := c.Upload(context.Background(), []byte("x"), "image/png,evil"); err == nil {
		t.Error("a media type with a comma was accepted")
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
