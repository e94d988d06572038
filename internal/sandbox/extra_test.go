package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// getJSON GETs url with a "key" header (when key != "") and decodes the
// JSON object answer.
func getJSON(t *testing.T, url, key string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("key", key)
	}
	return do(t, req)
}

func obj(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v (%T) is not an object", v, v)
	}
	return m
}

func nextHook(t *testing.T, ch chan hook, what string) hook {
	t.Helper()
	select {
	case h := <-ch:
		return h
	case <-time.After(3 * time.Second):
		t.Fatalf("no webhook: %s", what)
	}
	return hook{}
}

func noMoreHooks(t *testing.T, ch chan hook, wait time.Duration) {
	t.Helper()
	select {
	case h := <-ch:
		t.Errorf("unexpected webhook: %s", h.raw)
	case <-time.After(wait):
	}
}

func isPNG(b []byte) bool {
	_, f, err := image.Decode(bytes.NewReader(b))
	return err == nil && f == "png"
}

// ---- training ----

func loraBody(extra map[string]any) map[string]any {
	b := map[string]any{
		"key":             testKey,
		"instance_prompt": "photo of ambika0 man",
		"class_prompt":    "photo of a man",
		"base_model_type": "sdxl",
		"images":          []string{"https://x/1.png", "https://x/2.png"},
		"training_type":   "men",
		"max_train_steps": "18",
		"lora_type":       "lora",
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

var trainingIDRe = regexp.MustCompile(`^[A-Za-z0-9]{10}$`)

func TestTrainingSubmitShapeAndValidation(t *testing.T) {
	s, ts := newSandbox(t, Options{Delay: time.Hour, Key: testKey})
	for _, p := range []string{"/api/v3/lora_fine_tune", "/api/v3/fine_tune"} {
		a := post(t, ts.URL+p, loraBody(nil), nil)
		if a.status != 200 {
			t.Fatalf("%s: %d %s", p, a.status, a.raw)
		}
		wantKeys(t, p, a.body, "status", "messege", "data", "training_id")
		if a.body["status"] != "success" || a.body["messege"] != "deploying_gpu" || a.body["data"] != "it will take upto 30 minutes." {
			t.Errorf("%s: %s", p, a.raw)
		}
		if id, _ := a.body["training_id"].(string); !trainingIDRe.MatchString(id) {
			t.Errorf("%s: training_id %#v", p, a.body["training_id"])
		}
	}
	for _, tc := range []struct {
		body map[string]any
		want []string
	}{
		{loraBody(map[string]any{"instance_prompt": " "}), []string{"instance_prompt"}},
		{loraBody(map[string]any{"images": []string{}}), []string{"images"}},
		{loraBody(map[string]any{"images": "https://x/1.png"}), []string{"images"}},
		{map[string]any{"key": testKey}, []string{"images", "instance_prompt"}},
	} {
		a := post(t, ts.URL+"/api/v3/lora_fine_tune", tc.body, nil)
		if a.status != 400 || a.body["status"] != "error" {
			t.Errorf("invalid %v: %d %s", tc.want, a.status, a.raw)
			continue
		}
		msg := obj(t, a.body["message"])
		if got := keys(msg); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("validation fields %v, want %v (%s)", got, tc.want, a.raw)
		}
	}
	if a := post(t, ts.URL+"/api/v3/lora_fine_tune", loraBody(map[string]any{"key": "bad"}), nil); a.status != 401 || a.body["message"] != "Invalid Api Key" {
		t.Errorf("bad key: %d %s", a.status, a.raw)
	}
	if a := post(t, ts.URL+"/api/v3/fine_tune_status/abc", map[string]any{"key": "bad"}, nil); a.status != 401 {
		t.Errorf("status bad key: %d %s", a.status, a.raw)
	}
	a := post(t, ts.URL+"/api/v3/fine_tune_status/NoSuchId00", map[string]any{"key": testKey}, nil)
	wantKeys(t, "unknown training", a.body, "status", "messege")
	if a.body["status"] != "error" || a.body["messege"] != "Training not found" {
		t.Errorf("unknown training: %s", a.raw)
	}
	if st := s.Stats(); st.Submits != 7 || st.Jobs != 2 || st.Fetches != 2 {
		t.Errorf("stats %+v", st)
	}
	// The images array is recorded as sent.
	r := s.Requests()[0]
	if r.Path != "/api/v3/lora_fine_tune" || len(r.Body["images"].([]any)) != 2 || r.Body["key"] != "[redacted]" {
		t.Errorf("recorded %+v", r)
	}
}

func TestTrainingStageWalkViaStatus(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: 700 * time.Millisecond})
	a := post(t, ts.URL+"/api/v3/lora_fine_tune", loraBody(nil), nil)
	id := a.body["training_id"].(string)
	statusURL := ts.URL + "/api/v3/fine_tune_status/" + id
	var seen []string
	var last answer
	waitFor(t, "model_ready", func() bool {
		last = post(t, statusURL, map[string]any{"key": testKey}, nil)
		st := last.body["messege"].(string)
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		return st == "model_ready"
	})
	// The stages seen are in order, start at deploying_gpu, end at
	// model_ready.
	pos := -1
	for _, st := range seen {
		i := indexOf(trainingStages, st)
		if i <= pos {
			t.Fatalf("stages out of order or unknown: %v", seen)
		}
		pos = i
	}
	if seen[0] != "deploying_gpu" || len(seen) < 4 {
		t.Errorf("stages seen %v", seen)
	}
	wantKeys(t, "status", last.body, "status", "messege", "data")
	if last.body["status"] != "success" {
		t.Errorf("final: %s", last.raw)
	}
	data := last.body["data"].(string)
	if !strings.HasPrefix(data, " /n ") || strings.Count(data, " /n ") != len(trainingStages) ||
		!strings.Contains(data, "Step:1 Training Started") || !strings.HasSuffix(data, "Model loaded successfully") {
		t.Errorf("data %q", data)
	}
	// It stays model_ready.
	time.Sleep(30 * time.Millisecond)
	if b := post(t, statusURL, map[string]any{"key": testKey}, nil); b.body["messege"] != "model_ready" {
		t.Errorf("after ready: %s", b.raw)
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func TestTrainingWebhookEveryStage(t *testing.T) {
	for _, dup := range []bool{false, true} {
		t.Run(fmt.Sprintf("duplicate=%v", dup), func(t *testing.T) {
			rs, ch := receiver(t)
			s, ts := newSandbox(t, Options{Delay: 140 * time.Millisecond, DuplicateWebhooks: dup})
			a := post(t, ts.URL+"/api/v3/lora_fine_tune", loraBody(map[string]any{"webhook": rs.URL + "/train-tok"}), nil)
			id := a.body["training_id"].(string)
			prevLogs := ""
			for _, stage := range trainingStages {
				times := 1
				if dup {
					times = 2
				}
				for range times {
					h := nextHook(t, ch, stage)
					wantKeys(t, "training webhook", h.body, "status", "training_status", "logs", "model_id")
					if h.body["status"] != "success" || h.body["training_status"] != stage || h.body["model_id"] != id {
						t.Fatalf("want stage %s, got %s", stage, h.raw)
					}
					logs := h.body["logs"].(string)
					if !strings.HasPrefix(logs, prevLogs) || logs == "" {
						t.Errorf("logs do not grow: %q after %q", logs, prevLogs)
					}
					if !dup || logs != prevLogs {
						prevLogs = logs
					}
				}
			}
			noMoreHooks(t, ch, 60*time.Millisecond)
			want := len(trainingStages)
			if dup {
				want *= 2
			}
			if st := s.Stats(); st.WebhooksSent != want {
				t.Errorf("WebhooksSent %d, want %d", st.WebhooksSent, want)
			}
		})
	}
}

func TestTrainingWebhookDropped(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 14 * time.Millisecond, DropWebhooks: true})
	post(t, ts.URL+"/api/v3/lora_fine_tune", loraBody(map[string]any{"webhook": rs.URL}), nil)
	noMoreHooks(t, ch, 100*time.Millisecond)
}

func TestTrainingFail(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 140 * time.Millisecond, Fail: true})
	a := post(t, ts.URL+"/api/v3/fine_tune", loraBody(map[string]any{"webhook": rs.URL, "base_model_id": "sdxl"}), nil)
	id := a.body["training_id"].(string)
	for _, stage := range []string{"deploying_gpu", "training_started"} {
		if h := nextHook(t, ch, stage); h.body["training_status"] != stage || h.body["status"] != "success" {
			t.Fatalf("want %s: %s", stage, h.raw)
		}
	}
	h := nextHook(t, ch, "training_failed")
	wantKeys(t, "failed webhook", h.body, "status", "training_status", "logs", "model_id")
	if h.body["status"] != "failed" || h.body["training_status"] != "training_failed" || h.body["model_id"] != id ||
		!strings.HasSuffix(h.body["logs"].(string), " /n Error: CUDA out of memory") {
		t.Errorf("failed webhook: %s", h.raw)
	}
	noMoreHooks(t, ch, 150*time.Millisecond)
	f := post(t, ts.URL+"/api/v3/fine_tune_status/"+id, map[string]any{"key": testKey}, nil)
	if f.body["status"] != "error" || f.body["messege"] != "training_failed" {
		t.Errorf("status: %s", f.raw)
	}
	data := f.body["data"].(string)
	if !strings.Contains(data, "Training Started") || !strings.HasSuffix(data, " /n Error: CUDA out of memory") || strings.Contains(data, "Model loaded") {
		t.Errorf("data %q", data)
	}

	// An explicit FailMessage is the error text.
	_, ts2 := newSandbox(t, Options{Delay: -1, Fail: true, FailMessage: "disk full"})
	a = post(t, ts2.URL+"/api/v3/lora_fine_tune", loraBody(nil), nil)
	f = post(t, ts2.URL+"/api/v3/fine_tune_status/"+a.body["training_id"].(string), map[string]any{"key": testKey}, nil)
	if !strings.HasSuffix(f.body["data"].(string), "Error: disk full") {
		t.Errorf("FailMessage: %s", f.raw)
	}
}

func TestFinetuneList(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: time.Hour})
	a := post(t, ts.URL+"/api/v3/finetune_list", map[string]any{"key": testKey}, nil)
	wantKeys(t, "empty list", a.body, "status", "messege", "data")
	if a.body["status"] != "success" || a.body["messege"] != "model list" || len(a.body["data"].([]any)) != 0 {
		t.Errorf("empty list: %s", a.raw)
	}
	id1 := post(t, ts.URL+"/api/v3/lora_fine_tune", loraBody(nil), nil).body["training_id"]
	id2 := post(t, ts.URL+"/api/v3/fine_tune", loraBody(nil), nil).body["training_id"]
	a = post(t, ts.URL+"/api/v3/finetune_list", map[string]any{"key": testKey}, nil)
	data := a.body["data"].([]any)
	if len(data) != 2 {
		t.Fatalf("list: %s", a.raw)
	}
	e0, e1 := obj(t, data[0]), obj(t, data[1])
	if e0["training_id"] != id1 || e1["training_id"] != id2 || e0["status"] != "deploying_gpu" || e0["type"] != "lora_fine_tune" || e1["type"] != "fine_tune" {
		t.Errorf("list: %s", a.raw)
	}
}

// ---- workflows ----

const wf1 = WorkflowTextToImageUpscale

func wfRun(t *testing.T, base, id string, body map[string]any, key string) answer {
	t.Helper()
	h := map[string]string{}
	if key != "" {
		h["key"] = key
	}
	return post(t, base+"/api/v1/workflows/"+id+"/run", body, h)
}

func TestWorkflowListAndSchema(t *testing.T) {
	s, ts := newSandbox(t, Options{Delay: time.Hour, Key: testKey})
	a := getJSON(t, ts.URL+"/api/v1/workflows", testKey)
	if a.status != 200 || a.body["status"] != "success" {
		t.Fatalf("list: %d %s", a.status, a.raw)
	}
	list := a.body["workflows"].([]any)
	if len(list) != 2 {
		t.Fatalf("list: %s", a.raw)
	}
	w0 := obj(t, list[0])
	wantKeys(t, "list entry", w0, "id", "name", "description", "rate_limit", "call_count", "last_called_at", "created_at", "updated_at")
	if w0["id"] != wf1 || w0["name"] != "Text to image + upscale" || w0["call_count"].(json.Number).String() != "0" || w0["last_called_at"] != nil {
		t.Errorf("entry: %v", w0)
	}
	if obj(t, list[1])["id"] != WorkflowImageRestyle {
		t.Errorf("second: %v", list[1])
	}

	sc := getJSON(t, ts.URL+"/api/v1/workflows/"+wf1, testKey)
	wantKeys(t, "schema", sc.body, "status", "workflow", "parameters", "endpoints")
	wantKeys(t, "schema.workflow", obj(t, sc.body["workflow"]), "id", "name", "description", "rate_limit", "webhook_url")
	params := sc.body["parameters"].([]any)
	p0 := obj(t, params[0])
	wantKeys(t, "parameter", p0, "key", "type", "required", "node_id", "node_name")
	if p0["key"] != "prompt" || p0["required"] != true || p0["type"] != "string" {
		t.Errorf("prompt param: %v", p0)
	}
	ep := obj(t, sc.body["endpoints"])
	if ep["run"] != ts.URL+"/api/v1/workflows/"+wf1+"/run" || ep["status"] != ts.URL+"/api/v1/workflows/"+wf1+"/runs/{id}" {
		t.Errorf("endpoints: %v", ep)
	}
	if !bytes.Contains(sc.raw, []byte(`\/api\/v1\/workflows`)) {
		t.Errorf("slashes not escaped: %s", sc.raw)
	}

	// Unknown workflow; key only in the header.
	if b := getJSON(t, ts.URL+"/api/v1/workflows/5f1c9f1e-0000-4000-8000-00000000dead", testKey); b.status != 404 || b.body["status"] != "error" {
		t.Errorf("unknown schema: %d %s", b.status, b.raw)
	}
	for _, k := range []string{"", "wrong"} {
		for _, u := range []string{"/api/v1/workflows", "/api/v1/workflows/" + wf1, "/api/v1/workflows/" + wf1 + "/runs/12345"} {
			if b := getJSON(t, ts.URL+u, k); b.status != 401 || b.body["status"] != "error" || b.body["message"] != "Invalid API key" {
				t.Errorf("GET %s key %q: %d %s", u, k, b.status, b.raw)
			}
		}
	}
	// A key in the body is not enough.
	if b := wfRun(t, ts.URL, wf1, map[string]any{"key": testKey, "prompt": "x"}, ""); b.status != 401 {
		t.Errorf("body key run: %d %s", b.status, b.raw)
	}
	if st := s.Stats(); st.Jobs != 0 {
		t.Errorf("stats %+v", st)
	}

	// call_count counts runs.
	wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x"}, testKey)
	a = getJSON(t, ts.URL+"/api/v1/workflows", testKey)
	w0 = obj(t, a.body["workflows"].([]any)[0])
	if w0["call_count"].(json.Number).String() != "1" || w0["last_called_at"] == nil {
		t.Errorf("after a run: %v", w0)
	}
}

func TestWorkflowRunStatusWalk(t *testing.T) {
	s, ts := newSandbox(t, Options{Delay: 600 * time.Millisecond})
	hookURL := "http://127.0.0.1:1/wf-tok" // nothing listens: the answer only echoes it
	a := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "a castle", "width": 512, "webhook": hookURL}, "any-key")
	if a.status != http.StatusAccepted {
		t.Fatalf("run: %d %s", a.status, a.raw)
	}
	wantKeys(t, "run", a.body, "status", "message", "execution_id", "workflow_id", "status_url", "webhook_url")
	exec := intID(t, a.body["execution_id"])
	statusURL := ts.URL + "/api/v1/workflows/" + wf1 + "/runs/" + exec
	if a.body["status"] != "success" || a.body["message"] != "Workflow execution started." || a.body["workflow_id"] != wf1 ||
		a.body["status_url"] != statusURL || a.body["webhook_url"] != hookURL {
		t.Errorf("run: %s", a.raw)
	}
	if !bytes.Contains(a.raw, []byte(`"http:\/\/127.0.0.1`)) {
		t.Errorf("slashes: %s", a.raw)
	}
	// webhook_url is null without a webhook.
	if b := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x"}, "k"); b.body["webhook_url"] != nil || intID(t, b.body["execution_id"]) == exec {
		t.Errorf("run without webhook: %s", b.raw)
	}

	var seen []string
	var last answer
	waitFor(t, "completed", func() bool {
		last = getJSON(t, statusURL, "k")
		ex := obj(t, last.body["execution"])
		st := ex["status"].(string)
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
			if st == "running" {
				wantKeys(t, "running", last.body, "status", "execution", "steps")
				if ex["started_at"] == nil || ex["completed_at"] != nil || ex["execution_time"] != nil {
					t.Errorf("running: %s", last.raw)
				}
			}
			if st == "pending" || st == "running" {
				out := ts.URL + "/workflow-outputs/" + exec + "-0.png"
				if code, _, _ := get(t, out); code != 404 {
					t.Errorf("output while %s: %d", st, code)
				}
			}
		}
		return terminal(st)
	})
	if !reflect.DeepEqual(seen, []string{"pending", "running", "completed"}) {
		t.Errorf("states seen %v", seen)
	}
	wantKeys(t, "completed", last.body, "status", "execution", "output", "steps")
	ex := obj(t, last.body["execution"])
	wantKeys(t, "execution", ex, "id", "workflow_id", "status", "started_at", "completed_at", "execution_time")
	if last.body["status"] != "success" || intID(t, ex["id"]) != exec || ex["workflow_id"] != wf1 || ex["completed_at"] == nil {
		t.Errorf("completed: %s", last.raw)
	}
	if _, err := ex["execution_time"].(json.Number).Float64(); err != nil {
		t.Errorf("execution_time %v", ex["execution_time"])
	}
	out := obj(t, last.body["output"])
	if out["status"] != "success" {
		t.Errorf("output: %v", out)
	}
	for _, k := range []string{"output", "proxy_links"} {
		urls := strs(t, out[k])
		code, h, b := get(t, urls[0])
		if len(urls) != 1 || !strings.HasPrefix(urls[0], ts.URL+"/") || code != 200 || h.Get("Content-Type") != "image/png" || !isPNG(b) {
			t.Errorf("%s %v: %d %s", k, urls, code, h.Get("Content-Type"))
		}
	}
	steps := last.body["steps"].([]any)
	if len(steps) != 2 || obj(t, steps[0])["name"] != "Text to Image" || obj(t, steps[1])["name"] != "Image Upscaler" {
		t.Fatalf("steps: %v", steps)
	}
	for _, st := range steps {
		if m := obj(t, st); m["status"] != "completed" || m["started_at"] == nil || m["completed_at"] == nil {
			t.Errorf("step %v", m)
		}
	}
	if st := s.Stats(); st.Jobs != 2 || st.Submits != 2 || st.Downloads != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestWorkflowErrors(t *testing.T) {
	s, ts := newSandbox(t, Options{Delay: time.Hour})
	// 422: required parameter missing or empty.
	for _, body := range []map[string]any{{}, {"prompt": ""}, {"prompt": nil, "width": 5}} {
		a := wfRun(t, ts.URL, wf1, body, "k")
		if a.status != http.StatusUnprocessableEntity || a.body["status"] != "error" {
			t.Errorf("%v: %d %s", body, a.status, a.raw)
			continue
		}
		errs := obj(t, a.body["errors"])
		if _, ok := errs["prompt"]; !ok || !strings.Contains(a.body["message"].(string), "prompt") {
			t.Errorf("%v: %s", body, a.raw)
		}
	}
	a := wfRun(t, ts.URL, WorkflowImageRestyle, map[string]any{"prompt": "x"}, "k")
	if a.status != 422 || keys(obj(t, a.body["errors"]))[0] != "init_image" {
		t.Errorf("restyle without init_image: %d %s", a.status, a.raw)
	}
	// 404: unknown workflow, unknown execution, execution of another workflow.
	ok := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x"}, "k")
	exec := intID(t, ok.body["execution_id"])
	for _, u := range []string{
		"/api/v1/workflows/nope/run",
		"/api/v1/workflows/" + wf1 + "/runs/999/cancel",
		"/api/v1/workflows/" + WorkflowImageRestyle + "/runs/" + exec + "/cancel",
		"/api/v1/workflows/" + wf1 + "/runs/abc/cancel",
	} {
		b := post(t, ts.URL+u, map[string]any{"prompt": "x"}, map[string]string{"key": "k"})
		if b.status != 404 || b.body["status"] != "error" {
			t.Errorf("POST %s: %d %s", u, b.status, b.raw)
		}
	}
	for _, u := range []string{
		"/api/v1/workflows/nope",
		"/api/v1/workflows/" + wf1 + "/runs/999",
		"/api/v1/workflows/" + WorkflowImageRestyle + "/runs/" + exec,
		"/api/v1/workflows/nope/runs/" + exec,
	} {
		if b := getJSON(t, ts.URL+u, "k"); b.status != 404 || b.body["status"] != "error" {
			t.Errorf("GET %s: %d %s", u, b.status, b.raw)
		}
	}
	// Wrong methods and unknown sub-paths are plain 404s.
	if b := getJSON(t, ts.URL+"/api/v1/workflows/"+wf1+"/run", "k"); b.status != 404 {
		t.Errorf("GET run: %d", b.status)
	}
	if st := s.Stats(); st.Jobs != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestWorkflowCancel(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: time.Hour})
	a := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x", "webhook": rs.URL + "/tok"}, "k")
	exec := intID(t, a.body["execution_id"])
	base := ts.URL + "/api/v1/workflows/" + wf1 + "/runs/" + exec
	c := post(t, base+"/cancel", nil, map[string]string{"key": "k"})
	wantKeys(t, "cancel", c.body, "status", "message")
	if c.status != 200 || c.body["status"] != "success" || !strings.HasPrefix(c.body["message"].(string), "Execution cancelled") {
		t.Errorf("cancel: %d %s", c.status, c.raw)
	}
	st := getJSON(t, base, "k")
	ex := obj(t, st.body["execution"])
	if ex["status"] != "cancelled" || ex["completed_at"] == nil || st.body["output"] != nil {
		t.Errorf("status after cancel: %s", st.raw)
	}
	h := nextHook(t, ch, "cancelled")
	if h.body["event"] != "workflow.cancelled" || h.body["status"] != "cancelled" || intID(t, h.body["execution_id"]) != exec {
		t.Errorf("webhook: %s", h.raw)
	}
	// Terminal: cancelling again is a 400.
	if c := post(t, base+"/cancel", nil, map[string]string{"key": "k"}); c.status != 400 || c.body["status"] != "error" {
		t.Errorf("second cancel: %d %s", c.status, c.raw)
	}
	if c := post(t, base+"/cancel", nil, nil); c.status != 401 {
		t.Errorf("cancel without key: %d", c.status)
	}
	noMoreHooks(t, ch, 50*time.Millisecond)

	// A completed execution cannot be cancelled either.
	_, fast := newSandbox(t, Options{Delay: -1})
	a = wfRun(t, fast.URL, wf1, map[string]any{"prompt": "x"}, "k")
	if c := post(t, fast.URL+"/api/v1/workflows/"+wf1+"/runs/"+intID(t, a.body["execution_id"])+"/cancel", nil, map[string]string{"key": "k"}); c.status != 400 || !strings.Contains(c.body["message"].(string), "completed") {
		t.Errorf("cancel completed: %d %s", c.status, c.raw)
	}
}

func TestWorkflowWebhookFlat(t *testing.T) {
	rs, ch := receiver(t)
	s, ts := newSandbox(t, Options{Delay: 40 * time.Millisecond})
	a := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x", "webhook": rs.URL + "/tok"}, "k")
	exec := intID(t, a.body["execution_id"])
	h := nextHook(t, ch, "flat")
	wantKeys(t, "flat webhook", h.body, "event", "execution_id", "workflow_id", "status", "output", "completed_at")
	if h.body["event"] != "workflow.completed" || h.body["status"] != "completed" || intID(t, h.body["execution_id"]) != exec || h.body["workflow_id"] != wf1 {
		t.Errorf("flat: %s", h.raw)
	}
	urls := strs(t, obj(t, h.body["output"])["output"])
	if code, ct, b := get(t, urls[0]); code != 200 || ct.Get("Content-Type") != "image/png" || !isPNG(b) {
		t.Errorf("output %s: %d", urls[0], code)
	}
	if !bytes.Contains(h.raw, []byte(`:\/\/`)) {
		t.Errorf("slashes: %s", h.raw)
	}
	noMoreHooks(t, ch, 60*time.Millisecond)
	if st := s.Stats(); st.WebhooksSent != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestWorkflowWebhookNested(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 40 * time.Millisecond, WorkflowWebhookShape: "nested", DuplicateWebhooks: true})
	a := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "A beautiful sunset", "width": 640, "webhook": rs.URL}, "k")
	exec := intID(t, a.body["execution_id"])
	for i := range 2 {
		h := nextHook(t, ch, "nested")
		wantKeys(t, "nested webhook", h.body, "event", "workflow", "execution")
		wf := obj(t, h.body["workflow"])
		ex := obj(t, h.body["execution"])
		wantKeys(t, "workflow", wf, "id", "name", "user_id")
		wantKeys(t, "execution", ex, "id", "status", "started_at", "completed_at", "execution_time", "input_data", "output_data")
		if h.body["event"] != "workflow.completed" || wf["id"] != wf1 || intID(t, ex["id"]) != exec || ex["status"] != "completed" {
			t.Errorf("nested %d: %s", i, h.raw)
		}
		in := obj(t, ex["input_data"])
		if in["prompt"] != "A beautiful sunset" || in["width"].(json.Number).String() != "640" || in["webhook"] != nil {
			t.Errorf("input_data %v", in)
		}
		images := strs(t, obj(t, ex["output_data"])["images"])
		if code, _, b := get(t, images[0]); code != 200 || !isPNG(b) {
			t.Errorf("image %s: %d", images[0], code)
		}
	}
	noMoreHooks(t, ch, 60*time.Millisecond)
}

func TestCancelWorkflows(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 40 * time.Millisecond, CancelWorkflows: true, WorkflowWebhookShape: "nested"})
	a := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x", "webhook": rs.URL}, "k")
	exec := intID(t, a.body["execution_id"])
	h := nextHook(t, ch, "cancelled")
	ex := obj(t, h.body["execution"])
	if h.body["event"] != "workflow.cancelled" || ex["status"] != "cancelled" || ex["output_data"] != nil {
		t.Errorf("webhook: %s", h.raw)
	}
	st := getJSON(t, ts.URL+"/api/v1/workflows/"+wf1+"/runs/"+exec, "k")
	if obj(t, st.body["execution"])["status"] != "cancelled" || st.body["output"] != nil {
		t.Errorf("status: %s", st.raw)
	}
	if code, _, _ := get(t, ts.URL+"/workflow-outputs/"+exec+"-0.png"); code != 404 {
		t.Errorf("output of a cancelled execution: %d", code)
	}
}

func TestWorkflowFail(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 40 * time.Millisecond, Fail: true})
	a := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x", "webhook": rs.URL}, "k")
	exec := intID(t, a.body["execution_id"])
	h := nextHook(t, ch, "failed")
	if h.body["event"] != "workflow.failed" || h.body["status"] != "failed" || h.body["error"] != "Image generation failed: Invalid prompt" {
		t.Errorf("webhook: %s", h.raw)
	}
	st := getJSON(t, ts.URL+"/api/v1/workflows/"+wf1+"/runs/"+exec, "k")
	wantKeys(t, "failed", st.body, "status", "execution", "error", "steps")
	if st.body["status"] != "success" || obj(t, st.body["execution"])["status"] != "failed" || st.body["error"] != "Image generation failed: Invalid prompt" {
		t.Errorf("status: %s", st.raw)
	}
	steps := st.body["steps"].([]any)
	if obj(t, steps[len(steps)-1])["status"] != "failed" {
		t.Errorf("steps: %v", steps)
	}
}

// ---- uploads ----

func TestUploads(t *testing.T) {
	s, ts := newSandbox(t, Options{Key: testKey})
	png, _ := renderPNG(7, 0)
	uri := "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	paths := []string{"/api/v6/base64_to_url", "/api/v6/image_editing/base64_to_url", "/api/v6/video/base64_to_url", "/api/v6/voice/base64_to_url"}
	var ids []string
	for _, p := range paths {
		a := post(t, ts.URL+p, map[string]any{"key": testKey, "base64_string": uri}, nil)
		if a.status != 200 {
			t.Fatalf("%s: %d %s", p, a.status, a.raw)
		}
		wantKeys(t, p, a.body, "status", "id", "output")
		id := intID(t, a.body["id"])
		ids = append(ids, id)
		out := strs(t, a.body["output"])
		if a.body["status"] != "success" || len(out) != 1 || out[0] != ts.URL+"/uploads/"+id+".png" {
			t.Errorf("%s: %s", p, a.raw)
		}
		if !bytes.Contains(a.raw, []byte(`\/uploads\/`)) {
			t.Errorf("slashes: %s", a.raw)
		}
		code, h, b := get(t, out[0])
		if code != 200 || h.Get("Content-Type") != "image/png" || !bytes.Equal(b, png) {
			t.Errorf("GET %s: %d %s, %d bytes", out[0], code, h.Get("Content-Type"), len(b))
		}
	}
	if ids[0] == ids[1] {
		t.Error("ids repeat")
	}
	// Bare base64 (line-wrapped, unpadded) is stored as .bin.
	raw := []byte("hello sandbox upload!")
	enc := strings.TrimRight(base64.StdEncoding.EncodeToString(raw), "=")
	a := post(t, ts.URL+"/api/v6/base64_to_url", map[string]any{"key": testKey, "base64_string": enc[:10] + "\n" + enc[10:]}, nil)
	out := strs(t, a.body["output"])[0]
	if !strings.HasSuffix(out, ".bin") {
		t.Errorf("bare: %s", a.raw)
	}
	if code, h, b := get(t, out); code != 200 || !bytes.Equal(b, raw) || h.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("GET bare: %d %q", code, b)
	}
	wav := renderWAV(1, 0)
	a = post(t, ts.URL+"/api/v6/voice/base64_to_url", map[string]any{"key": testKey, "base64_string": "data:audio/wav;base64," + base64.StdEncoding.EncodeToString(wav)}, nil)
	if out := strs(t, a.body["output"])[0]; !strings.HasSuffix(out, ".wav") {
		t.Errorf("wav: %s", a.raw)
	}

	// Errors.
	for _, tc := range []struct {
		b64  any
		code int
		msg  string
	}{
		{"data:image/png;base64,@@@not base64@@@", 400, "base64"},
		{"not base64 at all!", 400, "base64"},
		{"data:image/png,plain", 400, "base64"},
		{"", 400, "required"},
		{42, 400, "required"},
		{"data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(make([]byte, 5<<20+1)), 400, "5MB"},
	} {
		a := post(t, ts.URL+"/api/v6/base64_to_url", map[string]any{"key": testKey, "base64_string": tc.b64}, nil)
		if a.status != tc.code || a.body["status"] != "error" || !strings.Contains(a.body["message"].(string), tc.msg) {
			t.Errorf("%.40v: %d %s", tc.b64, a.status, a.raw)
		}
	}
	// Exactly 5 MB is fine.
	big := make([]byte, 5<<20)
	big[0] = 1
	a = post(t, ts.URL+"/api/v6/base64_to_url", map[string]any{"key": testKey, "base64_string": base64.StdEncoding.EncodeToString(big)}, nil)
	if a.status != 200 {
		t.Errorf("5 MB: %d %s", a.status, a.raw)
	}
	if a := post(t, ts.URL+"/api/v6/base64_to_url", map[string]any{"key": "bad", "base64_string": uri}, nil); a.status != 401 {
		t.Errorf("bad key: %d", a.status)
	}
	if code, _, _ := get(t, ts.URL+"/uploads/999.png"); code != 404 {
		t.Errorf("unknown upload: %d", code)
	}
	if code, _, _ := get(t, ts.URL+"/uploads/"+ids[0]+".jpg"); code != 404 {
		t.Errorf("wrong extension: %d", code)
	}
	if st := s.Stats(); st.Uploads != 7 || st.Submits != 0 || st.Jobs != 0 {
		t.Errorf("stats %+v", st)
	}
	// Requests keep sizes, not the data.
	reqs := s.Requests()
	if got := reqs[0].Body["base64_string"]; got != fmt.Sprintf("<%d bytes>", len(png)) {
		t.Errorf("recorded base64_string %v", got)
	}
	if got := reqs[4].Body["base64_string"]; got != fmt.Sprintf("<%d bytes>", len(raw)) {
		t.Errorf("recorded bare base64_string %v", got)
	}
	_, _, all := get(t, ts.URL+"/_sandbox/requests")
	if len(all) > 8<<10 {
		t.Errorf("/_sandbox/requests is %d bytes", len(all))
	}
}

// ---- media ----

// mp4Boxes lists the top-level box types of an MP4 file, failing when the
// sizes do not add up to the file.
func mp4Boxes(t *testing.T, b []byte) []string {
	t.Helper()
	var types []string
	for off := 0; off < len(b); {
		if off+8 > len(b) {
			t.Fatalf("truncated box at %d", off)
		}
		size := int(binary.BigEndian.Uint32(b[off:]))
		if size < 8 || off+size > len(b) {
			t.Fatalf("bad box size %d at %d", size, off)
		}
		types = append(types, string(b[off+4:off+8]))
		off += size
	}
	return types
}

func TestEmbeddedMedia(t *testing.T) {
	if len(sandboxMP4) > 30<<10 || len(sandboxMP3) > 30<<10 {
		t.Errorf("media too big: mp4 %d, mp3 %d", len(sandboxMP4), len(sandboxMP3))
	}
	boxes := mp4Boxes(t, sandboxMP4)
	if boxes[0] != "ftyp" || indexOf(boxes, "moov") < 0 || indexOf(boxes, "mdat") < 0 {
		t.Errorf("mp4 boxes %v", boxes)
	}
	// MPEG audio frame sync (11 bits), layer III.
	if len(sandboxMP3) < 4 || sandboxMP3[0] != 0xFF || sandboxMP3[1]&0xE0 != 0xE0 || (sandboxMP3[1]>>1)&3 != 1 {
		t.Errorf("mp3 header % x", sandboxMP3[:4])
	}
}

func TestMediaOutputs(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 20 * time.Millisecond})
	mp4 := func(b []byte) bool { return len(b) > 12 && string(b[4:8]) == "ftyp" && bytes.Equal(b, sandboxMP4) }
	cases := []struct {
		path, service string
		body          map[string]any
		ctype         string
		check         func([]byte) bool
	}{
		{"/api/v6/video/text2video", "video", map[string]any{"prompt": "a horse", "output_type": "mp4"}, "video/mp4", mp4},
		{"/api/v6/video/img2video", "video", map[string]any{"init_image": "http://x/a.png", "model_id": "svd"}, "video/mp4", mp4},
		{"/api/v6/video/text2video_ultra", "video", map[string]any{"prompt": "a horse", "model_id": "wan2.2"}, "video/mp4", mp4},
		{"/api/v6/video/img2video_ultra", "video", map[string]any{"prompt": "a horse", "init_image": "http://x/a.png"}, "video/mp4", mp4},
		{"/api/v6/video/text2video", "video", map[string]any{"prompt": "a horse", "output_type": "GIF"}, "image/gif",
			func(b []byte) bool { return string(b[:6]) == "GIF89a" }},
		{"/api/v6/voice/text_to_speech", "voice", map[string]any{"prompt": "hello", "voice_id": "madison", "language": "english"}, "audio/wav",
			func(b []byte) bool {
				return string(b[:4]) == "RIFF" && string(b[8:16]) == "WAVEfmt " && int(binary.LittleEndian.Uint32(b[4:])) == len(b)-8
			}},
		{"/api/v6/voice/music_gen", "voice", map[string]any{"prompt": "marimba", "output_format": "mp3"}, "audio/mpeg",
			func(b []byte) bool { return b[0] == 0xFF && b[1]&0xE0 == 0xE0 && bytes.Equal(b, sandboxMP3) }},
		{"/api/v6/voice/music_gen", "voice", map[string]any{"prompt": "marimba", "output_format": "wav"}, "audio/wav",
			func(b []byte) bool { return string(b[:4]) == "RIFF" }},
		{"/api/v6/3d/text_to_3d", "3d", map[string]any{"prompt": "a ghost", "output_format": "glb"}, "model/gltf-binary",
			func(b []byte) bool {
				return string(b[:4]) == "glTF" && binary.LittleEndian.Uint32(b[4:]) == 2 && int(binary.LittleEndian.Uint32(b[8:])) == len(b)
			}},
		{"/api/v6/image_editing/removebg_mask", "image_editing", map[string]any{"image": "http://x/a.png"}, "image/png", isPNG},
		{"/api/v6/image_editing/super_resolution", "image_editing", map[string]any{"init_image": "http://x/a.png", "scale": 4}, "image/png", isPNG},
	}
	for i, tc := range cases {
		tc.body["key"] = testKey
		tc.body["webhook"] = rs.URL + "/m"
		tc.body["track_id"] = fmt.Sprint("m-", i)
		submitted := time.Now()
		a := post(t, ts.URL+tc.path, tc.body, nil)
		if a.status != 200 || a.body["status"] != "processing" {
			t.Errorf("%s: %d %s", tc.path, a.status, a.raw)
			continue
		}
		id := intID(t, a.body["id"])
		fr := a.body["fetch_result"].(string)
		if fr != ts.URL+"/api/v6/"+tc.service+"/fetch/"+id {
			t.Errorf("%s: fetch_result %s", tc.path, fr)
		}
		future := strs(t, a.body["future_links"])
		if !strings.HasSuffix(future[0], "."+map[string]string{
			"video/mp4": "mp4", "image/gif": "gif", "audio/wav": "wav", "audio/mpeg": "mp3", "model/gltf-binary": "glb", "image/png": "png",
		}[tc.ctype]) {
			t.Errorf("%s: future link %s", tc.path, future[0])
		}
		// Processing until the job's 20 ms are up (a busy machine may take
		// longer than that to send the fetch).
		if p := post(t, fr, map[string]any{"key": testKey}, nil); p.body["status"] != "processing" &&
			(p.body["status"] != "success" || time.Since(submitted) < 20*time.Millisecond) {
			t.Errorf("%s: first fetch %s", tc.path, p.raw)
		}
		h := nextHook(t, ch, tc.path)
		if h.body["status"] != "success" || intID(t, h.body["id"]) != id || h.body["track_id"] != tc.body["track_id"] {
			t.Errorf("%s: webhook %s", tc.path, h.raw)
		}
		f := post(t, fr, map[string]any{"key": testKey}, nil)
		if f.body["status"] != "success" || intID(t, f.body["id"]) != id {
			t.Errorf("%s: fetch %s", tc.path, f.raw)
			continue
		}
		out := strs(t, f.body["output"])
		if !reflect.DeepEqual(out, future) || !reflect.DeepEqual(strs(t, h.body["output"]), future) {
			t.Errorf("%s: output %v, future %v", tc.path, out, future)
		}
		code, hdr, b := get(t, out[0])
		if code != 200 || hdr.Get("Content-Type") != tc.ctype || !tc.check(b) {
			t.Errorf("%s: GET %d %s, %d bytes", tc.path, code, hdr.Get("Content-Type"), len(b))
		}
	}
}

// ---- Close ----

func TestCloseStopsTrainingAndWorkflowTimers(t *testing.T) {
	rs, ch := receiver(t)
	before := runtime.NumGoroutine()
	s := New(Options{Delay: 300 * time.Millisecond})
	ts := httptest.NewServer(s)
	defer ts.Close()
	post(t, ts.URL+"/api/v3/lora_fine_tune", loraBody(map[string]any{"webhook": rs.URL}), nil)
	wfRun(t, ts.URL, wf1, map[string]any{"prompt": "x", "webhook": rs.URL}, "k")
	a := wfRun(t, ts.URL, wf1, map[string]any{"prompt": "y", "webhook": rs.URL}, "k")
	h := nextHook(t, ch, "deploying_gpu") // the first training stage fires at once
	if h.body["training_status"] != "deploying_gpu" {
		t.Fatalf("first hook: %s", h.raw)
	}
	// A cancel re-arms the execution's webhook; Close must stop that one too.
	s.mu.Lock()
	s.opts.WebhookDelay = time.Hour
	s.mu.Unlock()
	post(t, ts.URL+"/api/v1/workflows/"+wf1+"/runs/"+intID(t, a.body["execution_id"])+"/cancel", nil, map[string]string{"key": "k"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	n := len(s.timers)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d timers left after Close", n)
	}
	// On a busy machine more stages or an execution may have ended before
	// Close (their webhooks are queued in ch); nothing is sent after it.
	atClose := s.Stats()
	time.Sleep(400 * time.Millisecond)
	if st := s.Stats(); 1+len(ch) > atClose.WebhooksSent+atClose.WebhookErrors || st.WebhooksSent != atClose.WebhooksSent {
		t.Errorf("webhooks after Close: %d queued, stats %+v, at Close %+v", len(ch), st, atClose)
	}
	ts.Close()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before+4 })
}
