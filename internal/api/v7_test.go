package api

import (
	"context"
	"strings"
	"testing"
)

// The v7 shapes of ../shared/modelslab-v7.md §2.2: no real v7 response has
// been captured, so every shape the sources show is a case here.

// TestV7SubmitRefused: a submit answered HTTP 200 status "error" with no
// id created no job: KindRejected, Refused, the message flattened, one
// request, no retry (issue 15).
func TestV7SubmitRefused(t *testing.T) {
	tests := []struct {
		name, body, message, text, code string
	}{
		{"provider error with a code",
			`{"status":  "error", "code":    "provider_error", "message": "The provider refused the request."}`,
			"The provider refused the request.",
			"submit v7_text_to_image: The provider refused the request. (code provider_error)", "provider_error"},
		{"object message",
			`{"status":  "error", "message": {"init_image": ["The init image field is required."]}}`,
			"init_image: The init image field is required.",
			"submit v7_text_to_image: init_image: The init image field is required.", ""},
		{"object message, several fields",
			`{"status":"error","message":{"prompt":["The prompt field is required."],"model_id":["The model id field is required.","The model id must be a string."]}}`,
			"model_id: The model id field is required.; The model id must be a string.; prompt: The prompt field is required.",
			"", ""},
		{"agents-style error envelope",
			`{"data": null, "error": {"code": "validation_error", "message": "Human readable message", "details": {}}, "meta": {"request_id": "r-1"}}`,
			"Human readable message",
			"submit v7_text_to_image: Human readable message (code validation_error)", "validation_error"},
		{"status failed, no id", `{"status":"failed","message":"Model not available"}`, "Model not available", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, reply{code: 200, body: tt.body})
			sl := &sleepRecorder{}
			c := newTestClient(f.srv.URL, sl)
			r, err := c.Submit(context.Background(), mustLookup(t, "v7_text_to_image"), map[string]any{"prompt": "x", "model_id": "seedream-4"})
			if err == nil {
				t.Fatalf("Submit = %+v, want an error", r)
			}
			e := asAPIError(t, err)
			if e.Kind != KindRejected || !e.Refused || e.Message != tt.message || e.Code != tt.code {
				t.Errorf("got kind %v refused %v message %q code %q; want rejected, refused, %q, %q", e.Kind, e.Refused, e.Message, e.Code, tt.message, tt.code)
			}
			if tt.text != "" && e.Error() != tt.text {
				t.Errorf("Error() = %q, want %q", e.Error(), tt.text)
			}
			if !strings.Contains(e.Hint(), "no job") {
				t.Errorf("Hint() = %q, want it to say no job was created", e.Hint())
			}
			if n := len(f.requests()); n != 1 || len(sl.got()) != 0 {
				t.Errorf("%d requests, slept %v; want 1 and none", n, sl.got())
			}
		})
	}
	// A job that failed at submit, with its id, is a failed job, not a
	// refusal.
	f := newFakeAPI(t, reply{code: 200, body: `{"status":"failed","id":"87654321","message":"NSFW content"}`})
	_, err := newTestClient(f.srv.URL, &sleepRecorder{}).Submit(context.Background(), mustLookup(t, "v7_text_to_image"), map[string]any{"prompt": "x", "model_id": "m"})
	if e := asAPIError(t, err); e.Refused {
		t.Errorf("a failure with an id is marked Refused: %+v", e)
	}
}

// TestV7KeyInBodyAndHeader: v7 rows send the key both ways, submit and
// fetch; the fetch URL comes from the family when fetch_result is absent.
func TestV7KeyInBodyAndHeader(t *testing.T) {
	f := newFakeAPI(t,
		reply{code: 200, body: `{"status":"processing","id":"87654321","eta":12,"output":[]}`},
		reply{code: 200, body: `{"status": "success","generationTime": 45.2,"id": "87654321","output": ["https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/video.mp4"],"meta": {"model_id": "gen4_turbo","duration": 5,"fps": 24,"resolution": "1280x720","portrait": false}}`},
	)
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	ep := mustLookup(t, "v7_text_to_video")
	r, err := c.Submit(context.Background(), ep, map[string]any{"prompt": "x", "model_id": "gen4_turbo"})
	if err != nil || r.ID != "87654321" || r.FetchURL != "" || r.ETA != 12 || len(r.FutureLinks) != 0 {
		t.Fatalf("Submit = %+v, %v", r, err)
	}
	got, err := c.Fetch(context.Background(), ep, r.ID, r.FetchURL)
	if err != nil || got.State() != StateSuccess || len(got.Output) != 1 || got.GenerationTime != 45.2 {
		t.Fatalf("Fetch = %+v, %v", got, err)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].Path != "/api/v7/video-fusion/text-to-video" || reqs[1].Path != "/api/v7/video-fusion/fetch/87654321" {
		t.Fatalf("requests %+v", reqs)
	}
	for _, rq := range reqs {
		if rq.HeaderKey != testKey || rq.Body["key"] != testKey {
			t.Errorf("%s: header key %q, body key %v; want both", rq.Path, rq.HeaderKey, rq.Body["key"])
		}
	}
}

// TestV7Decode: ids as numbers or strings, no eta / fetch_result /
// future_links, success inside the submit, proxy_links, and the queued
// word of other clients (unknown: keep polling).
func TestV7Decode(t *testing.T) {
	tests := []struct {
		name, body, status, id string
		eta                    float64
		fetch                  string
		output, future         int
	}{
		{"string id, no links", `{"status":"processing","id":"87654321"}`, "processing", "87654321", 0, "", 0, 0},
		{"integer id, eta, fetch_result, future_links (third-party fixture)", `{"status": "processing","fetch_result": "https://modelslab.com/api/v7/images/fetch/123456","id": 123456,"eta": 10,"output": [],"future_links": ["https://example.com/future_image.png"]}`, "processing", "123456", 10, "https://modelslab.com/api/v7/images/fetch/123456", 0, 1},
		{"sync success in the submit", `{"status": "success","generationTime": 10,"id": 123457,"output": ["https://example.com/a.png"],"proxy_links": ["https://example.com/p.png"]}`, "success", "123457", 0, "", 1, 0},
		{"big integer id keeps every digit", `{"status":"processing","id":12345678901234567890}`, "processing", "12345678901234567890", 0, "", 0, 0},
		{"queued", `{"status":"queued","id":"9"}`, "queued", "9", 0, "", 0, 0},
		{"eta as a string", `{"status":"processing","id":"9","eta":"7.5"}`, "processing", "9", 7.5, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeFor(mustLookup(t, "v7_text_to_image"), []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status || r.ID != tt.id || r.ETA != tt.eta || r.FetchURL != tt.fetch || len(r.Output) != tt.output || len(r.FutureLinks) != tt.future {
				t.Errorf("got %+v", r)
			}
		})
	}
	if r, _ := Decode([]byte(`{"status":"error","code":7,"message":{"init_image":["The init image field is required."]}}`)); r.Code != "7" || r.Message != "init_image: The init image field is required." {
		t.Errorf("numeric code: %+v", r)
	}
}

// FuzzDecodeV7 feeds v7-shaped bodies to DecodeFor on every v7 row: it
// never panics, and what it accepts has a trimmed, lower-case status.
func FuzzDecodeV7(f *testing.F) {
	for _, s := range []string{
		`{"status":"error","code":"provider_error","message":"The provider refused the request."}`,
		`{"status":"error","message":{"init_image":["The init image field is required."]}}`,
		`{"data":null,"error":{"code":"validation_error","message":"m","details":{"a":["b"]}},"meta":{"request_id":"r"}}`,
		`{"status":"processing","id":"87654321","eta":12}`,
		`{"status":"success","id":123457,"output":["https://e/a.png"],"proxy_links":{"0":"https://e/b.png"}}`,
		`{"status":"processing","fetch_result":"https://modelslab.com/api/v7/images/fetch/1","id":1,"future_links":["https://e/f.png"]}`,
		`{"error":{"message":{"x":[{"y":"z"}]}}}`, `{}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	var rows []Endpoint
	for _, ep := range Catalogue() {
		if ep.Version() == "v7" {
			rows = append(rows, ep)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, ep := range rows {
			r, err := DecodeFor(ep, body)
			if err != nil {
				continue
			}
			if r.Status != strings.ToLower(strings.TrimSpace(r.Status)) {
				t.Fatalf("status %q not normalised", r.Status)
			}
			_ = r.State()
		}
	})
}
