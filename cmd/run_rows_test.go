package cmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// valueFor is a plausible value for a required field, by its name.
func valueFor(field string) string {
	switch {
	case strings.HasSuffix(field, "_image") || field == "image":
		return "https://example.com/in.png"
	case strings.HasSuffix(field, "_audio"):
		return "https://example.com/in.mp3"
	case strings.HasSuffix(field, "_video"):
		return "https://example.com/in.mp4"
	case field == "character_orientation":
		return "image"
	case field == "model_id":
		return "some-model"
	case field == "images":
		return "https://example.com/a.png"
	}
	return "x"
}

// TestRunEveryGenerationRow: `mlab run NAME` drives every generation row
// of the catalogue, v6 and v7, from the row alone: the required fields as
// -F, the key where the row says (body, and the header on v7), the fetch
// family of the row, exit 0 with the row's name in the result (issue 15).
func TestRunEveryGenerationRow(t *testing.T) {
	sb := sandbox.New(sandbox.Options{Delay: 50 * 1e6})
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	n := 0
	for _, ep := range api.Catalogue() {
		if ep.Family != api.FamilyGeneration {
			continue
		}
		n++
		t.Run(ep.Name, func(t *testing.T) {
			t.Parallel()
			f, out, errOut := jobTestFactory(t, map[string]string{"MODELSLAB_API_KEY": "sk-rows-0123456789", "MODELSLAB_BASE_URL": base})
			args := []string{"run", ep.Name, "--wait", "--tunnel", "local", "--json", "--timeout", "20s"}
			for _, field := range ep.Required {
				args = append(args, "-F", field+"="+valueFor(field))
			}
			if ep.Name == "v7_create_dubbing" { // init_audio or init_video: not a Required
				args = append(args, "-F", "init_audio="+valueFor("init_audio"))
			}
			if code := Run(context.Background(), f, args); code != 0 {
				t.Fatalf("exit %d:\n%s", code, errOut)
			}
			var res struct{ Endpoint, Status string }
			if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Endpoint != ep.Name || res.Status != "success" {
				t.Fatalf("result %s (%v)", out, err)
			}
			var reqs []sandbox.Request
			for _, r := range sb.Requests() {
				if r.Body["track_id"] == trackOf(out.Bytes()) || strings.HasSuffix(r.Path, "/"+idOf(out.Bytes())) {
					reqs = append(reqs, r)
				}
			}
			if len(reqs) < 1 || reqs[0].Path != ep.SubmitPath {
				t.Fatalf("requests %+v, want the submit to %s first", reqs, ep.SubmitPath)
			}
			fetchPrefix := strings.TrimSuffix(ep.FetchPath, "{id}")
			for _, r := range reqs {
				if r.Path != ep.SubmitPath && !strings.HasPrefix(r.Path, fetchPrefix) {
					t.Errorf("request to %s: neither the submit nor the %s family", r.Path, fetchPrefix)
				}
				if r.Body["key"] == nil {
					t.Errorf("%s: no key in the body", r.Path)
				}
				if r.HeaderKey != (ep.Auth == api.AuthBoth) {
					t.Errorf("%s: header key %v, want %v (auth %s)", r.Path, r.HeaderKey, ep.Auth == api.AuthBoth, ep.Auth)
				}
			}
		})
	}
	if n < 60 {
		t.Errorf("only %d generation rows", n)
	}
}

func trackOf(out []byte) string {
	var r struct {
		TrackID string `json:"track_id"`
	}
	_ = json.Unmarshal(out, &r)
	return r.TrackID
}

func idOf(out []byte) string {
	var r struct{ ID string }
	_ = json.Unmarshal(out, &r)
	return r.ID
}
