package webhook

import (
	"os"
	"path/filepath"
	"testing"
)

func readPayload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "payloads", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSummarizeDocumentedShapes(t *testing.T) {
	cases := []struct {
		file string
		want Summary
	}{
		{"webhook.success.json", Summary{Kind: KindGeneration, Status: "success", ID: "abc123-def456", TrackID: "video_001"}},
		{"webhook.failed.json", Summary{Kind: KindGeneration, Status: "failed", ID: "abc123-def456", TrackID: "video_001"}},
		{"lora_fine_tune.webhook.json", Summary{Kind: KindTraining, Status: "deploying_gpu", ID: "F5jvdzGnYi"}},
		{"workflows.webhook.overview.json", Summary{Kind: KindWorkflow, Status: "completed", ID: "12345"}},
		{"workflows.webhook.webhooks-page.json", Summary{Kind: KindWorkflow, Status: "completed", ID: "exec_xyz789"}},
		// A fetch-shaped success body (what generation webhooks plausibly
		// mirror): integer id, track_id in meta.
		{"text2img.response.success.json", Summary{Kind: KindGeneration, Status: "success"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got := Summarize(readPayload(t, c.file))
			if c.file == "text2img.response.success.json" {
				if got.Kind != KindGeneration || got.Status != "success" || got.ID == "" {
					t.Fatalf("got %+v", got)
				}
				return
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
	for body, kind := range map[string]string{
		`[1,2]`:                       KindUnknown,
		`{}`:                          KindUnknown,
		`{"hello":"world"}`:           KindUnknown,
		`{"status":"processing"}`:     KindGeneration,
		`{"id":134701497}`:            KindGeneration,
		`{"event":"workflow.failed"}`: KindWorkflow,
	} {
		if got := Summarize([]byte(body)).Kind; got != kind {
			t.Errorf("Summarize(%s).Kind = %s, want %s", body, got, kind)
		}
	}
	if got := Summarize([]byte(`{"status":"success","id":134701497,"meta":{"track_id":"in-meta"}}`)); got.ID != "134701497" || got.TrackID != "in-meta" {
		t.Fatalf("numeric id / meta.track_id: %+v", got)
	}
}
