package journal

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanRoundTrip(t *testing.T) {
	j := openT(t, t.TempDir())
	body := map[string]any{"prompt": "a fox", "samples": json.Number("2"), "key": "sk-SECRET", "KEY": "x"}
	p := Plan{BatchID: "b-0123456789ab", Endpoint: "workflow_run", PathParams: map[string]string{"workflow_id": "wf"},
		Lines: []PlanLine{{Line: 1, Body: body}, {Line: 4, Body: map[string]any{"prompt": "a whale"}}}}
	if err := j.SavePlan(p); err != nil {
		t.Fatal(err)
	}
	if _, ok := body["key"]; !ok {
		t.Fatal("SavePlan changed the caller's body")
	}
	path := PlanPath(j.Dir(), p.BatchID)
	if path != filepath.Join(j.Dir(), "batches", "b-0123456789ab.json") {
		t.Fatalf("plan path %s", path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "SECRET") || strings.Contains(strings.ToLower(string(raw)), `"key"`) {
		t.Fatalf("the plan keeps the key: %s", raw)
	}
	if want := `{"batch_id":"b-0123456789ab","endpoint":"workflow_run","path_params":{"workflow_id":"wf"},"lines":[{"line":1,"body":{"prompt":"a fox","samples":2}},{"line":4,"body":{"prompt":"a whale"}}]}`; string(raw) != want {
		t.Fatalf("plan file\n%s\nwant\n%s", raw, want)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("plan file mode: %v %v", st.Mode(), err)
	}

	got, err := j.LoadPlan(p.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Endpoint != "workflow_run" || got.PathParams["workflow_id"] != "wf" || len(got.Lines) != 2 ||
		got.Lines[0].Line != 1 || got.Lines[0].Body["samples"] != json.Number("2") || got.Lines[1].Body["prompt"] != "a whale" {
		t.Fatalf("LoadPlan = %+v", got)
	}
}

func TestPlanErrors(t *testing.T) {
	j := openT(t, t.TempDir())
	if _, err := j.LoadPlan("b-none"); !errors.Is(err, ErrNoPlan) {
		t.Fatalf("missing plan: %v, want ErrNoPlan", err)
	}
	for _, id := range []string{"", "../x", `a\b`, ".hidden"} {
		if err := j.SavePlan(Plan{BatchID: id}); err == nil {
			t.Errorf("SavePlan accepted batch id %q", id)
		}
	}
	if err := os.MkdirAll(filepath.Join(j.Dir(), PlansDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(PlanPath(j.Dir(), "b-bad"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := j.LoadPlan("b-bad"); err == nil || errors.Is(err, ErrNoPlan) {
		t.Fatalf("corrupt plan: %v", err)
	}
	j.Close()
	if err := j.SavePlan(Plan{BatchID: "b-1"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("SavePlan after Close: %v", err)
	}
	if _, err := j.LoadPlan("b-1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("LoadPlan after Close: %v", err)
	}
}

// TestPlanTrackIDsAndBase: a plan keeps each line's track_id (given before
// any submit, so a resume can match lines to intents) and the API it went
// to, without credentials; the key goes whatever its case.
func TestPlanTrackIDsAndBase(t *testing.T) {
	j := openT(t, t.TempDir())
	p := Plan{BatchID: "b-00000000000c", Endpoint: "text2img", BaseURL: "https://user:pw@api.example",
		Lines: []PlanLine{{Line: 2, TrackID: "mlab-0000000000000002", Body: map[string]any{"prompt": "a", "Key": "sk-1", "kEy": "sk-2"}}}}
	if err := j.SavePlan(p); err != nil {
		t.Fatal(err)
	}
	got, err := j.LoadPlan(p.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if got.BaseURL != "https://api.example" || got.Lines[0].TrackID != "mlab-0000000000000002" || len(got.Lines[0].Body) != 1 {
		t.Fatalf("LoadPlan = %+v", got)
	}
}
