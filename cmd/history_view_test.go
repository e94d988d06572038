package cmd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestHistoryView(t *testing.T) {
	dir, _ := historyFixture(t)
	f, _, out, errOut := historyFactory(dir)
	if err := execHistory(t, f, "view", "t100"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"id         100\n", "track_id   t100\n",
		"endpoint   text2img (img) · POST https://modelslab.com/api/v6/images/text2img\n",
		"status     failed\n", "prompt     a\n", "message    Failed, Try Again\n", "via        poll\n",
		"elapsed    3s\n", `request    {"prompt":"a"}` + "\n",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("view lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out.String(), "sk-secret") || errOut.Len() != 0 {
		t.Fatalf("key shown, or stderr %q", errOut)
	}
	// files: each, the missing ones marked
	f, _, out, _ = historyFactory(dir)
	execHistory(t, f, "view", "200")
	if !strings.Contains(out.String(), "files      out/a.png (missing)\n           out/b.png (missing)\n") {
		t.Errorf("files:\n%s", out)
	}
	// --json and --jq: the entry
	f, _, out, _ = historyFactory(dir)
	if err := execHistory(t, f, "view", "200", "--jq", ".output | length"); err != nil || out.String() != "2\n" {
		t.Fatalf("--jq: %v %q", err, out)
	}
	f, _, _, _ = historyFactory(dir)
	err := execHistory(t, f, "view", "nosuch")
	var fe *FlagError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "job nosuch is not in the journal") {
		t.Fatalf("unknown job: %v", err)
	}
}

func TestHistoryRm(t *testing.T) {
	dir, _ := historyFixture(t)
	f, _, _, _ := historyFactory(dir)
	err := execHistory(t, f, "rm", "100", "300")
	if code := exitCodeFor(err); code != ExitUsage || !strings.Contains(err.Error(), "300 (processing)") || !strings.Contains(hintFor(err), "--force") {
		t.Fatalf("running job without --force: exit %d, %v / %q", code, err, hintFor(err))
	}
	f, _, out, _ := historyFactory(dir)
	execHistory(t, f, "--json")
	if got := strings.Join(jsonIDs(t, out.String()), ","); got != "300,200,100" {
		t.Fatalf("removed something: %s", got)
	}
	f, _, out, _ = historyFactory(dir)
	if err := execHistory(t, f, "rm", "100", "t300", "--force", "--json"); err != nil || out.String() != "{\"removed\":2}\n" {
		t.Fatalf("rm --force: %v %q", err, out)
	}
	f, _, out, _ = historyFactory(dir)
	execHistory(t, f, "--json")
	if got := strings.Join(jsonIDs(t, out.String()), ","); got != "200" {
		t.Fatalf("after rm: %s", got)
	}
}

// wait and jobs view <TAB>: the journal's ids, newest first, described;
// a journal that is not there is not made.
func TestCompleteJournalIDs(t *testing.T) {
	dir, _ := historyFixture(t)
	f, _, _, _ := historyFactory(dir)
	got, directive := completeJournalIDs(f, 1)(nil, nil, "")
	if len(got) != 3 || !strings.HasPrefix(got[0], "300\tprocessing text2video, 1h ago") || !strings.HasPrefix(got[2], "100\tfailed text2img, 2d ago: Failed, Try Again") {
		t.Fatalf("completions %q", got)
	}
	if directive&cobra.ShellCompDirectiveKeepOrder == 0 || directive&cobra.ShellCompDirectiveNoFileComp == 0 {
		t.Fatalf("directive %d", directive)
	}
	if got, _ := completeJournalIDs(f, 1)(nil, nil, "t2"); len(got) != 1 || !strings.HasPrefix(got[0], "t200\t") {
		t.Fatalf("by track_id: %q", got)
	}
	if got, _ := completeJournalIDs(f, 1)(nil, []string{"100"}, ""); len(got) != 0 {
		t.Fatalf("a second argument: %q", got)
	}
	if got, _ := completeJournalIDs(f, -1)(nil, []string{"100"}, ""); len(got) != 2 {
		t.Fatalf("rm's next argument: %q", got)
	}
	empty := filepath.Join(t.TempDir(), "state")
	f, _, _, _ = historyFactory(empty)
	if got, _ := completeJournalIDs(f, 1)(nil, nil, ""); len(got) != 0 {
		t.Fatalf("no journal: %q", got)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Fatalf("completion made the state directory: %v", err)
	}
}

// completion <TAB> lists each shell once; run and edit complete
// endpoints.
func TestCompletionCommands(t *testing.T) {
	c := newCmdCompletion()
	if len(c.ValidArgs) != 0 {
		t.Fatalf("ValidArgs %v repeat the subcommands", c.ValidArgs)
	}
	got, _ := completeEndpoints("edit")(nil, nil, "super")
	if len(got) != 1 || !strings.HasPrefix(got[0], "super_resolution\t") {
		t.Fatalf("edit: %q", got)
	}
	got, _ = completeEndpoints("")(nil, nil, "text2")
	if len(got) < 2 {
		t.Fatalf("run: %q", got)
	}
}
