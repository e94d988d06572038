package output

import (
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/journal"
)

func TestWriteJobDetail(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	e := &journal.Entry{ID: "7", TrackID: "mlab-7", Status: journal.StatusFailed, Message: "bad\x1b[2Jthing",
		Request: map[string]any{"prompt": "a <b> & c"}, Output: []string{"https://x/7.png"}, Files: []string{"/nonexistent/7.png"},
		SubmittedAt: now.Add(-time.Minute), FinishedAt: now.Add(-50 * time.Second)}
	var b strings.Builder
	if err := WriteJobDetail(&b, e, "text2img (img)", now); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, w := range []string{
		"id         7\n", "endpoint   text2img (img)\n", "message    bad\\x1b[2Jthing\n", "prompt     a <b> & c\n",
		"outputs    https://x/7.png\n", "files      /nonexistent/7.png (missing)\n", "elapsed    10s\n",
		`request    {"prompt":"a <b> & c"}` + "\n",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("raw escape:\n%q", got)
	}
	// not finished: how long so far, how to wait
	e = &journal.Entry{TrackID: "mlab-8", Status: journal.StatusSubmitting, SubmittedAt: now.Add(-2 * time.Minute)}
	b.Reset()
	WriteJobDetail(&b, e, "", now)
	if !strings.Contains(b.String(), "id         - (no answer to the submit") || !strings.Contains(b.String(), "so far (not known to be finished: mlab wait mlab-8)") {
		t.Errorf("unfinished:\n%s", b.String())
	}
}

func TestPromptOrMessage(t *testing.T) {
	for _, c := range []struct {
		e    journal.Entry
		want string
	}{
		{journal.Entry{Request: map[string]any{"prompt": "p"}, Message: "m"}, "p"},
		{journal.Entry{Request: map[string]any{"text": "hello"}}, "hello"},
		{journal.Entry{Request: map[string]any{"prompt": "p"}, Status: journal.StatusFailed, Message: "why"}, "why"},
		{journal.Entry{Message: "only"}, "only"},
		{journal.Entry{Request: map[string]any{"prompt": 3}}, ""},
	} {
		if got := PromptOrMessage(&c.e); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}
