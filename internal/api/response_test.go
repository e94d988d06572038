package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const payloadDir = "../../testdata/payloads"

func payloadFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(payloadDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("found only %d payload files in %s", len(files), payloadDir)
	}
	return files
}

func readPayload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(payloadDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodePayload(t testing.TB, name string) *Response {
	t.Helper()
	r, err := Decode(readPayload(t, name))
	if err != nil {
		t.Fatalf("Decode(%s): %v", name, err)
	}
	return r
}

// TestDecodeEveryPayload walks every real body: each is a JSON object and
// must decode, with invariants that hold for every response.
func TestDecodeEveryPayload(t *testing.T) {
	for _, f := range payloadFiles(t) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			body := readPayload(t, name)
			r, err := Decode(body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if r.Output == nil || r.FutureLinks == nil || r.ProxyLinks == nil {
				t.Errorf("nil slice: output=%v future=%v proxy=%v", r.Output == nil, r.FutureLinks == nil, r.ProxyLinks == nil)
			}
			if string(r.Raw) != string(body) {
				t.Errorf("Raw differs from the body")
			}
			for _, u := range append(append(append([]string{}, r.Output...), r.FutureLinks...), r.ProxyLinks...) {
				if strings.Contains(u, `\/`) {
					t.Errorf("escaped slash survived in %q", u)
				}
			}
			var generic map[string]any
			if err := json.Unmarshal(body, &generic); err != nil {
				t.Fatal(err)
			}
			// The id never comes from meta.id.
			if _, hasID := generic["id"]; !hasID && r.ID != "" {
				t.Errorf("ID = %q without a top-level id", r.ID)
			}
			if strings.Contains(name, ".response.processing") && r.State() != StateProcessing {
				t.Errorf("State = %v, want processing", r.State())
			}
			if strings.Contains(name, ".response.success") && r.State() != StateSuccess {
				t.Errorf("State = %v, want success", r.State())
			}
			if strings.Contains(name, ".response.error") && (r.State() != StateFailed || r.Message == "") {
				t.Errorf("State = %v, Message = %q; want failed with a message", r.State(), r.Message)
			}
			// A successful generation (not training/workflow/list) has output.
			if r.State() == StateSuccess && r.ID != "" && len(r.Output) == 0 {
				t.Errorf("success with id %s but no output", r.ID)
			}
			// meta.output on a processing response is not completion.
			if r.State() == StateProcessing && len(r.Output) != 0 {
				t.Errorf("processing response with Output %v", r.Output)
			}
		})
	}
}

func TestDecodeNamedPayloads(t *testing.T) {
	type want struct {
		state       State
		id          string
		trackID     string
		eta         float64
		fetchURL    string
		output      []string
		future      int
		proxy       []string
		message     string
		tip         string // prefix
		genTime     float64
		retryAfter  time.Duration
		metaPresent bool
	}
	tests := []struct {
		file string
		want want
	}{
		{"text2img.response.processing.json", want{
			state: StateProcessing, id: "134701497", eta: 2.75,
			fetchURL: "https://modelslab.com/api/v6/images/fetch/134701497",
			output:   []string{}, future: 1, proxy: []string{},
			message: "Try to fetch request after seconds estimated",
			tip:     "Get 20x faster", metaPresent: true,
		}},
		{"images.fetch.response.processing.json", want{
			state: StateProcessing, output: []string{}, proxy: []string{},
			message: "try again later.", tip: "Get 20x faster",
		}},
		{"images.fetch.response.success.json", want{
			state: StateSuccess, id: "13443927", proxy: []string{},
			output: []string{"https://pub-8b49af329fae499aa563997f5d4068a4.r2.dev/generations/6ef3f81f-14e1-4835-b07a-e00dbe80b6ff-0.png"},
		}},
		{"error.legacy.failed.json", want{
			state: StateFailed, id: "", output: []string{}, proxy: []string{},
			message: "Failed, Try Again",
		}},
		{"flux.text2img.response.success.json", want{
			state: StateSuccess, id: "12345678", genTime: 2.45, metaPresent: true,
			output: []string{"https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/abc123.png"},
			proxy:  []string{"https://cdn.modelslab.com/generations/abc123.png"},
		}},
		{"img2img.response.success.json", want{
			state: StateSuccess, id: "112514254", genTime: 9.07, proxy: []string{}, metaPresent: true,
			tip: "Get 20x faster",
		}},
		{"error.429.rate_limit.json", want{
			state: StateFailed, output: []string{}, proxy: []string{},
			message:    "Rate limit exceeded. Maximum 5 queued requests allowed.",
			retryAfter: 30 * time.Second,
		}},
		{"webhook.success.json", want{
			state: StateSuccess, id: "abc123-def456", trackID: "video_001", genTime: 45.2, proxy: []string{},
			output:      []string{"https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/abc123.mp4"},
			metaPresent: true,
		}},
		{"webhook.failed.json", want{
			state: StateFailed, id: "abc123-def456", trackID: "video_001", output: []string{}, proxy: []string{},
			message: "Processing failed: Invalid input dimensions",
		}},
		{"error.legacy.rate_limit.json", want{
			state: StateFailed, output: []string{}, proxy: []string{},
			message: "Rate limit exceeded", tip: "you are sending same request multiple times",
		}},
		{"image_editing.removebg_mask.response.processing.json", want{
			state: StateProcessing, id: "134932313", trackID: "3422", eta: 5,
			fetchURL: "https://modelslab.com/api/v6/image_editing/fetch/134932313",
			output:   []string{}, future: 1, proxy: []string{}, metaPresent: true,
			message: "Try to fetch request after seconds estimated", tip: "Your image is processing",
		}},
		{"text2img.response.error.json", want{
			state: StateFailed, output: []string{}, proxy: []string{}, message: "Error message",
		}},
		{"video.fetch.response.success.json", want{
			state: StateSuccess, id: "147",
			output: []string{"https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/2be1702e-3a1f-46ee-811c-350cee84b66e.gif"},
			proxy:  []string{"https://cdn2.stablediffusionapi.com/generations/2be1702e-3a1f-46ee-811c-350cee84b66e.gif"},
		}},
		{"speech_to_text.response.processing.json", want{
			state: StateProcessing, id: "330711", eta: 5,
			fetchURL: "https://modelslab.com/api/v6/whisper/fetch/330711",
			output:   []string{}, future: 1, metaPresent: true,
			message: "Try to fetch request after seconds estimated", tip: "Your transcription",
		}},
		{"lora_fine_tune.response.success.json", want{
			state: StateSuccess, output: []string{}, proxy: []string{}, message: "deploying_gpu",
		}},
		{"workflows.status.response.completed.json", want{
			state: StateSuccess, output: []string{}, proxy: []string{},
		}},
		{"workflows.status.response.failed.json", want{
			state: StateSuccess, output: []string{}, proxy: []string{},
			message: "Image generation failed: Invalid prompt",
		}},
		{"workflows.webhook.overview.json", want{
			state: StateUnknown, output: []string{}, proxy: []string{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := decodePayload(t, tt.file)
			w := tt.want
			if r.State() != w.state {
				t.Errorf("State = %v, want %v", r.State(), w.state)
			}
			if r.ID != w.id {
				t.Errorf("ID = %q, want %q", r.ID, w.id)
			}
			if r.TrackID != w.trackID {
				t.Errorf("TrackID = %q, want %q", r.TrackID, w.trackID)
			}
			if r.ETA != w.eta {
				t.Errorf("ETA = %v, want %v", r.ETA, w.eta)
			}
			if r.FetchURL != w.fetchURL {
				t.Errorf("FetchURL = %q, want %q", r.FetchURL, w.fetchURL)
			}
			if w.output != nil && !reflect.DeepEqual(r.Output, w.output) {
				t.Errorf("Output = %#v, want %#v", r.Output, w.output)
			}
			if len(r.FutureLinks) != w.future {
				t.Errorf("FutureLinks = %v, want %d", r.FutureLinks, w.future)
			}
			if w.proxy != nil && !reflect.DeepEqual(r.ProxyLinks, w.proxy) {
				t.Errorf("ProxyLinks = %#v, want %#v", r.ProxyLinks, w.proxy)
			}
			if r.Message != w.message {
				t.Errorf("Message = %q, want %q", r.Message, w.message)
			}
			if !strings.HasPrefix(r.Tip, w.tip) || (w.tip == "" && r.Tip != "") {
				t.Errorf("Tip = %q, want prefix %q", r.Tip, w.tip)
			}
			if r.GenerationTime != w.genTime {
				t.Errorf("GenerationTime = %v, want %v", r.GenerationTime, w.genTime)
			}
			if r.RetryAfter != w.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", r.RetryAfter, w.retryAfter)
			}
			if (r.Meta != nil) != w.metaPresent {
				t.Errorf("Meta present = %v, want %v", r.Meta != nil, w.metaPresent)
			}
		})
	}
}

func TestDecodeSynthetic(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r *Response)
	}{
		{"escaped slashes", `{"status":"success","id":1,"output":["https:\/\/x\/y.png"],"proxy_links":{"0":"https:\/\/cdn\/y.png"}}`,
			func(t *testing.T, r *Response) {
				if !reflect.DeepEqual(r.Output, []string{"https://x/y.png"}) {
					t.Errorf("Output = %v", r.Output)
				}
				if !reflect.DeepEqual(r.ProxyLinks, []string{"https://cdn/y.png"}) {
					t.Errorf("ProxyLinks = %v", r.ProxyLinks)
				}
			}},
		{"integer track_id", `{"status":"processing","id":5,"track_id":23220}`,
			func(t *testing.T, r *Response) {
				if r.TrackID != "23220" {
					t.Errorf("TrackID = %q", r.TrackID)
				}
			}},
		{"track_id from meta", `{"status":"processing","id":5,"track_id":null,"meta":{"track_id":"300","id":"999"}}`,
			func(t *testing.T, r *Response) {
				if r.TrackID != "300" || r.ID != "5" {
					t.Errorf("TrackID = %q, ID = %q", r.TrackID, r.ID)
				}
			}},
		{"id 2^53+1 keeps every digit", `{"status":"processing","id":9007199254740993}`,
			func(t *testing.T, r *Response) {
				if r.ID != "9007199254740993" {
					t.Errorf("ID = %q", r.ID)
				}
			}},
		{"huge id", `{"id":123456789012345678901234567890}`,
			func(t *testing.T, r *Response) {
				if r.ID != "123456789012345678901234567890" {
					t.Errorf("ID = %q", r.ID)
				}
			}},
		{"float-spelled id", `{"id":1.347e8}`,
			func(t *testing.T, r *Response) {
				if r.ID != "134700000" {
					t.Errorf("ID = %q", r.ID)
				}
			}},
		{"null and empty ids", `{"id":null,"track_id":""}`,
			func(t *testing.T, r *Response) {
				if r.ID != "" || r.TrackID != "" {
					t.Errorf("ID = %q, TrackID = %q", r.ID, r.TrackID)
				}
			}},
		{"meta.id is never the id", `{"status":"success","meta":{"id":"134701497"}}`,
			func(t *testing.T, r *Response) {
				if r.ID != "" {
					t.Errorf("ID = %q", r.ID)
				}
			}},
		{"numeric strings", `{"status":"processing","id":"7","eta":" 12.5 ","retry_after":"3","generationTime":"1.5"}`,
			func(t *testing.T, r *Response) {
				if r.ETA != 12.5 || r.RetryAfter != 3*time.Second || r.GenerationTime != 1.5 || r.ID != "7" {
					t.Errorf("ETA=%v RetryAfter=%v GenerationTime=%v ID=%q", r.ETA, r.RetryAfter, r.GenerationTime, r.ID)
				}
			}},
		{"fractional retry_after", `{"retry_after":0.5}`,
			func(t *testing.T, r *Response) {
				if r.RetryAfter != 500*time.Millisecond {
					t.Errorf("RetryAfter = %v", r.RetryAfter)
				}
			}},
		{"junk numbers", `{"eta":"NaN","retry_after":"Inf","generationTime":true}`,
			func(t *testing.T, r *Response) {
				if r.ETA != 0 || r.RetryAfter != 0 || r.GenerationTime != 0 {
					t.Errorf("ETA=%v RetryAfter=%v GenerationTime=%v", r.ETA, r.RetryAfter, r.GenerationTime)
				}
			}},
		{"absurd retry_after is bounded", `{"retry_after":1e300}`,
			func(t *testing.T, r *Response) {
				if r.RetryAfter != maxRetryAfter {
					t.Errorf("RetryAfter = %v", r.RetryAfter)
				}
			}},
		{"validation message object", `{"status":"error","message":{"prompt":["The prompt field is required."]}}`,
			func(t *testing.T, r *Response) {
				if r.Message != "prompt: The prompt field is required." {
					t.Errorf("Message = %q", r.Message)
				}
			}},
		{"validation message with two fields", `{"status":"error","message":{"width":["Too wide.","Not a number."],"prompt":"Required."}}`,
			func(t *testing.T, r *Response) {
				if r.Message != "prompt: Required.; width: Too wide.; Not a number." {
					t.Errorf("Message = %q", r.Message)
				}
			}},
		{"message beats messege", `{"message":"a","messege":"b"}`,
			func(t *testing.T, r *Response) {
				if r.Message != "a" {
					t.Errorf("Message = %q", r.Message)
				}
			}},
		{"empty message falls back to messege", `{"message":"","messege":"b"}`,
			func(t *testing.T, r *Response) {
				if r.Message != "b" {
					t.Errorf("Message = %q", r.Message)
				}
			}},
		{"voice cover links", `{"links":["https://x/a.mp3","https://x/b.mp3"],"audio_time":12}`,
			func(t *testing.T, r *Response) {
				if !reflect.DeepEqual(r.Output, []string{"https://x/a.mp3", "https://x/b.mp3"}) {
					t.Errorf("Output = %v", r.Output)
				}
				if r.State() != StateUnknown {
					t.Errorf("State = %v", r.State())
				}
			}},
		{"output as a single string", `{"status":"success","output":"https://x/a.png"}`,
			func(t *testing.T, r *Response) {
				if !reflect.DeepEqual(r.Output, []string{"https://x/a.png"}) {
					t.Errorf("Output = %v", r.Output)
				}
			}},
		{"output null, proxy_links null", `{"status":"processing","output":null,"proxy_links":null,"future_links":[]}`,
			func(t *testing.T, r *Response) {
				if r.Output == nil || len(r.Output) != 0 || r.ProxyLinks == nil || len(r.ProxyLinks) != 0 {
					t.Errorf("Output = %#v, ProxyLinks = %#v", r.Output, r.ProxyLinks)
				}
			}},
		{"proxy_links object in index order", `{"proxy_links":{"10":"k","2":"c","0":"a","x":"ignored"}}`,
			func(t *testing.T, r *Response) {
				if !reflect.DeepEqual(r.ProxyLinks, []string{"a", "c", "k"}) {
					t.Errorf("ProxyLinks = %v", r.ProxyLinks)
				}
			}},
		{"status is lower-cased", `{"status":" Success "}`,
			func(t *testing.T, r *Response) {
				if r.Status != "success" || r.State() != StateSuccess {
					t.Errorf("Status = %q", r.Status)
				}
			}},
		{"queued is unknown", `{"status":"queued","id":3}`,
			func(t *testing.T, r *Response) {
				if r.State() != StateUnknown {
					t.Errorf("State = %v", r.State())
				}
			}},
		{"meta null", `{"meta":null}`,
			func(t *testing.T, r *Response) {
				if r.Meta != nil {
					t.Errorf("Meta = %s", r.Meta)
				}
			}},
		{"tips when tip absent", `{"tips":"wait"}`,
			func(t *testing.T, r *Response) {
				if r.Tip != "wait" {
					t.Errorf("Tip = %q", r.Tip)
				}
			}},
		{"byte order mark", "\xef\xbb\xbf{\"status\":\"success\"}",
			func(t *testing.T, r *Response) {
				if r.State() != StateSuccess {
					t.Errorf("State = %v", r.State())
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode([]byte(tt.body))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			tt.check(t, r)
		})
	}
}

func TestDecodeRejectsNonObjects(t *testing.T) {
	for _, body := range []string{"", "  ", "null", "[]", `"x"`, "42", "<html>502</html>", "{", `{"a":1} trailing`, "true"} {
		if r, err := Decode([]byte(body)); err == nil {
			t.Errorf("Decode(%q) = %+v, want an error", body, r)
		}
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateUnknown: "unknown", StateProcessing: "processing", StateSuccess: "success", StateFailed: "failed"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q", s, s.String())
		}
	}
	var nilResp *Response
	if nilResp.State() != StateUnknown {
		t.Error("nil Response should be StateUnknown")
	}
}
