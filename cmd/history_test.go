package cmd

import (
	"fmt"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/charmbracelet/x/ansi"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/output"
)

// historyFixture is a state directory holding three jobs:
//
//	"300" video, processing, submitted 1h ago
//	"200" img, success, 2 files, submitted 3h ago, ran 12.5s, via webhook
//	"100" img, failed, submitted 50h ago, ran 3s, via poll
func historyFixture(t *testing.T) (dir string, now time.Time) {
	t.Helper()
	dir = t.TempDir()
	j, err := journal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	now = time.Now().UTC().Truncate(time.Second)
	add := func(e journal.Entry) {
		t.Helper()
		if err := j.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	add(journal.Entry{ID: "100", TrackID: "t100", Endpoint: "text2img", Kind: "img", BaseURL: "https://modelslab.com",
		Request: map[string]any{"prompt": "a", "key": "sk-secret"}, SubmittedAt: now.Add(-50 * time.Hour)})
	add(journal.Entry{ID: "200", TrackID: "t200", Endpoint: "text2img", Kind: "img", BaseURL: "https://modelslab.com",
		SubmittedAt: now.Add(-3 * time.Hour)})
	add(journal.Entry{ID: "300", TrackID: "t300", Endpoint: "text2video", Kind: "video", BaseURL: "https://modelslab.com",
		SubmittedAt: now.Add(-time.Hour)})
	upd := func(id string, fn func(*journal.Entry)) {
		t.Helper()
		if err := j.Update(id, fn); err != nil {
			t.Fatal(err)
		}
	}
	upd("100", func(e *journal.Entry) {
		e.Status, e.Via, e.Message = "failed", "poll", "Failed, Try Again"
		e.FinishedAt = e.SubmittedAt.Add(3 * time.Second)
	})
	upd("200", func(e *journal.Entry) {
		e.Status, e.Via = "success", "webhook"
		e.Output = []string{"https://x/a.png?x=1&y=2", "https://x/b.png"}
		e.Files = []string{"out/a.png", "out/b.png"}
		e.FinishedAt = e.SubmittedAt.Add(12500 * time.Millisecond)
	})
	return dir, now
}

func historyFactory(dir string) (*Factory, *output.IOStreams, *bytes.Buffer, *bytes.Buffer) {
	ios, _, out, errOut := output.Test()
	f := NewFactory(ios, BuildInfo{Version: "t"}, func(k string) string {
		if k == journal.EnvStateDir {
			return dir
		}
		return ""
	})
	return f, ios, out, errOut
}

// execHistory runs `mlab jobs ARGS` built with historyCommands.
func execHistory(t *testing.T, f *Factory, args ...string) error {
	t.Helper()
	cmds := historyCommands(f)
	if len(cmds) == 0 || cmds[0].Name() != "jobs" {
		t.Fatalf("historyCommands = %v", cmds)
	}
	cmd := cmds[0]
	cmd.SetArgs(args)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetFlagErrorFunc(flagError) // as under root
	return cmd.ExecuteContext(context.Background())
}

func jsonIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var e journal.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func TestHistoryJSON(t *testing.T) {
	dir, _ := historyFixture(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--json"}, "300,200,100"},
		{[]string{"--json", "--status", "success"}, "200"},
		{[]string{"--json", "--status", "processing"}, "300"},
		{[]string{"--json", "--kind", "img"}, "200,100"},
		{[]string{"--json", "--kind", "img", "--limit", "1"}, "200"},
		{[]string{"--json", "-L", "2"}, "300,200"},
		{[]string{"--json", "--limit", "0"}, "300,200,100"},
		{[]string{"--json", "--since", "2h"}, "300"},
		{[]string{"--json", "--since", "2d"}, "300,200"}, // 100 is 50h old
		{[]string{"--json", "--since", "3d"}, "300,200,100"},
		{[]string{"--json", "--since", "1d"}, "300,200"},
		{[]string{"--json", "--kind", "3d"}, ""},
	}
	for _, c := range cases {
		f, _, out, errOut := historyFactory(dir)
		if err := execHistory(t, f, c.args...); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := strings.Join(jsonIDs(t, out.String()), ","); got != c.want {
			t.Errorf("%v: ids %q, want %q", c.args, got, c.want)
		}
		if errOut.Len() != 0 {
			t.Errorf("%v: stderr %q", c.args, errOut)
		}
	}

	// The full shape of one line.
	f, _, out, _ := historyFactory(dir)
	if err := execHistory(t, f, "--json", "--status", "success"); err != nil {
		t.Fatal(err)
	}
	line := out.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "}\n") {
		t.Fatalf("want one JSON line: %q", line)
	}
	if !strings.Contains(line, `"https://x/a.png?x=1&y=2"`) {
		t.Errorf("URL HTML-escaped: %s", line)
	}
	var m map[string]any
	json.Unmarshal([]byte(line), &m)
	for _, k := range []string{"id", "track_id", "endpoint", "kind", "base_url", "submitted_at", "status", "output", "files", "via", "finished_at", "updated_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing: %s", k, line)
		}
	}
	if m["status"] != "success" || m["via"] != "webhook" || m["track_id"] != "t200" {
		t.Errorf("%s", line)
	}

	// The key given at submit never comes back.
	f, _, out, _ = historyFactory(dir)
	execHistory(t, f, "--json")
	if strings.Contains(out.String(), "sk-secret") {
		t.Fatalf("key printed: %s", out)
	}
}

func TestHistoryPlain(t *testing.T) {
	dir, now := historyFixture(t)
	f, _, out, errOut := historyFactory(dir)
	if err := execHistory(t, f); err != nil {
		t.Fatal(err)
	}
	ts := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339) }
	want := strings.Join([]string{
		"300\tt300\tvideo\ttext2video\tprocessing\t" + ts(time.Hour) + "\t-\t-\t-",
		"200\tt200\timg\ttext2img\tsuccess\t" + ts(3*time.Hour) + "\t12.5\twebhook\tout/a.png,out/b.png",
		"100\tt100\timg\ttext2img\tfailed\t" + ts(50*time.Hour) + "\t3\tpoll\t-",
	}, "\n") + "\n"
	if out.String() != want {
		t.Fatalf("plain output:\n%s\nwant:\n%s", out, want)
	}
	if errOut.Len() != 0 {
		t.Fatalf("stderr %q", errOut)
	}
	// --limit cuts the same lines; no "showing" note off a terminal.
	f, _, out, errOut = historyFactory(dir)
	execHistory(t, f, "--limit", "1")
	if got := strings.Count(out.String(), "\n"); got != 1 || !strings.HasPrefix(out.String(), "300\t") || errOut.Len() != 0 {
		t.Fatalf("--limit 1: %q / %q", out, errOut)
	}
}

func TestHistoryTable(t *testing.T) {
	dir, _ := historyFixture(t)
	f, ios, out, errOut := historyFactory(dir)
	ios.SetStdoutTTY(true)
	if err := execHistory(t, f, "--limit", "2"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows:\n%s", out)
	}
	for _, w := range []string{"ID", "KIND", "STATUS", "SUBMITTED", "DURATION", "VIA", "FILES"} {
		if !strings.Contains(lines[0], w) {
			t.Errorf("header %q lacks %s", lines[0], w)
		}
	}
	for _, w := range []string{"300", "video/text2video", "processing", "1h ago"} {
		if !strings.Contains(lines[1], w) {
			t.Errorf("row %q lacks %q", lines[1], w)
		}
	}
	for _, w := range []string{"200", "img/text2img", "success", "3h ago", "13s", "webhook", "out/a.png (+1)"} {
		if !strings.Contains(lines[2], w) {
			t.Errorf("row %q lacks %q", lines[2], w)
		}
	}
	// Columns line up: STATUS starts at the same offset on every line.
	col := strings.Index(lines[0], "STATUS")
	if strings.Index(lines[1], "processing") != col || strings.Index(lines[2], "success") != col {
		t.Errorf("columns not aligned:\n%s", out)
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("escape codes with colour off:\n%q", out)
	}
	// An explicit --limit asked for that many: no note about the others.
	if errOut.Len() != 0 {
		t.Errorf("a note after an explicit --limit: %q", errOut)
	}

	// With colour: statuses styled, alignment unchanged.
	f, ios, out, _ = historyFactory(dir)
	ios.SetStdoutTTY(true)
	ios.SetStderrTTY(true)
	ios.SetColorEnabled(true)
	if err := execHistory(t, f); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "\x1b[32msuccess") || !strings.Contains(s, "failed") || !strings.Contains(s, "\x1b[33mprocessing") {
		t.Errorf("statuses not styled:\n%q", s)
	}
	if !strings.Contains(s, "2d ago") || !strings.Contains(s, "3s") || !strings.Contains(s, "poll") {
		t.Errorf("failed row:\n%s", s)
	}
}

func TestHistoryEmpty(t *testing.T) {
	dir := t.TempDir() + "/new/state"
	f, ios, out, errOut := historyFactory(dir)
	ios.SetStdoutTTY(true)
	if err := execHistory(t, f); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "no jobs in the journal yet") {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	f, _, out, errOut = historyFactory(dir)
	if err := execHistory(t, f, "--json"); err != nil || out.Len() != 0 || errOut.Len() != 0 {
		t.Fatalf("--json on an empty journal: %v %q %q", err, out, errOut)
	}
}

func TestHistoryFlagErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--status", "done"},
		{"--limit", "-1"},
		{"--since", "0s"},
		{"--since", "yesterday"},
		{"--since", "-3d"},
		{"extra-arg"},
		{"prune"},
		{"prune", "--older-than", "soon"},
		{"prune", "--older-than", "-1h"},
	} {
		f, _, _, _ := historyFactory(dir)
		err := execHistory(t, f, args...)
		var fe *FlagError
		if err == nil || !errors.As(err, &fe) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
			continue
		}
		if code := exitCodeFor(err); code != ExitUsage {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

func TestHistoryPrune(t *testing.T) {
	dir, _ := historyFixture(t)
	f, _, out, errOut := historyFactory(dir)
	if err := execHistory(t, f, "prune", "--older-than", "1d"); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "removed 1 finished job submitted before") {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	f, _, out, _ = historyFactory(dir)
	execHistory(t, f, "--json")
	if got := strings.Join(jsonIDs(t, out.String()), ","); got != "300,200" {
		t.Fatalf("after prune: %s", got)
	}
	// 0s removes every finished job; the processing one stays.
	f, _, out, _ = historyFactory(dir)
	if err := execHistory(t, f, "prune", "--older-than", "0s", "--json"); err != nil {
		t.Fatal(err)
	}
	if out.String() != "{\"removed\":1}\n" {
		t.Fatalf("prune --json: %q", out)
	}
	f, _, out, _ = historyFactory(dir)
	execHistory(t, f, "--json")
	if got := strings.Join(jsonIDs(t, out.String()), ","); got != "300" {
		t.Fatalf("after prune 0s: %s", got)
	}
}

// mlab jobs is wired into the root command and needs no API key.
func TestHistoryThroughRoot(t *testing.T) {
	dir, _ := historyFixture(t)
	f, _, out, errOut := historyFactory(dir)
	if code := Run(context.Background(), f, []string{"jobs", "--json", "--status", "failed"}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := strings.Join(jsonIDs(t, out.String()), ","); got != "100" {
		t.Fatalf("%s", got)
	}
	// An unusable state directory is a configuration error (exit 2).
	file := t.TempDir() + "/file"
	os.WriteFile(file, nil, 0o600)
	f, _, _, errOut = historyFactory(file)
	if code := Run(context.Background(), f, []string{"jobs"}); code != ExitUsage || !strings.Contains(errOut.String(), journal.EnvStateDir) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// The default limit says when it hid jobs; the prompt column (a failed
// job's message) is cut to the terminal's width and made safe.
func TestHistoryTableNoteAndPrompt(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range 22 {
		j.Add(journal.Entry{ID: fmt.Sprint(1000 + i), TrackID: fmt.Sprint("t", i), Endpoint: "text2img", Kind: "img",
			Request:     map[string]any{"prompt": "a lighthouse at dusk, \x1b[31mred\x1b[0m, with waves crashing on the rocks below and gulls"},
			SubmittedAt: now.Add(-time.Duration(i) * time.Minute)})
	}
	j.Update("1000", func(e *journal.Entry) { e.Status, e.Message = journal.StatusFailed, "NSFW content detected" })
	j.Close()

	for _, width := range []int{60, 80, 160} {
		f, ios, out, errOut := historyFactory(dir)
		ios.SetStdoutTTY(true)
		ios.SetTerminalWidth(func() int { return width })
		if err := execHistory(t, f); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(errOut.String(), "showing the 20 newest") {
			t.Errorf("width %d: no note about more jobs: %q", width, errOut)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != 21 {
			t.Fatalf("width %d: %d lines:\n%s", width, len(lines), out)
		}
		if width < 80 {
			// The other columns take 63: no room for the prompt.
			if strings.Contains(lines[0], "PROMPT") {
				t.Errorf("width %d: a prompt column with no room:\n%s", width, out)
			}
			continue
		}
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > width {
				t.Errorf("width %d: a line of %d columns: %q", width, w, l)
			}
			if strings.Contains(l, "\x1b") {
				t.Errorf("width %d: raw escape in %q", width, l)
			}
		}
		if !strings.Contains(lines[0], "PROMPT") || !strings.Contains(lines[1], "NSFW content") || !strings.Contains(lines[2], "a lighthouse") {
			t.Errorf("width %d: prompt column:\n%s", width, out)
		}
		if width == 160 && !strings.Contains(lines[2], `\x1b[31mred`) {
			t.Errorf("width 160: escapes not shown safely: %q", lines[2])
		}
		if width == 80 && !strings.HasSuffix(lines[2], "…") {
			t.Errorf("width 80: prompt not cut: %q", lines[2])
		}
	}
}

func TestHistoryQuiet(t *testing.T) {
	dir, _ := historyFixture(t)
	f, ios, out, errOut := historyFactory(dir)
	ios.SetStdoutTTY(true)
	if err := execHistory(t, f, "-q", "--limit", "2"); err != nil {
		t.Fatal(err)
	}
	if out.String() != "300\n200\n" || errOut.Len() != 0 {
		t.Fatalf("-q: %q / %q", out, errOut)
	}
}
