package cmd

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/spf13/cobra"
)

// outputCmd is a command with --json, -o and the output flags, parsed
// from args and applied to f.
func outputCmd(t *testing.T, f *Factory, args ...string) (*cobra.Command, *OutputFlags, *bool, error) {
	t.Helper()
	var (
		o      OutputFlags
		asJSON bool
		dir    string
	)
	cmd := &cobra.Command{Use: "x"}
	cmd.Flags().BoolVar(&asJSON, "json", false, "")
	cmd.Flags().StringVarP(&dir, "output-dir", "o", "", "")
	addOutputFlags(cmd.Flags(), &o)
	if err := cmd.Flags().Parse(args); err != nil {
		return cmd, &o, &asJSON, err
	}
	return cmd, &o, &asJSON, applyOutputFlags(f, cmd)
}

func TestOutputFlagsParse(t *testing.T) {
	f, _, _, _ := historyFactory(t.TempDir())
	for _, c := range []struct {
		args []string
		want string // "" ok, else part of the error
		json bool
	}{
		{[]string{"--jq", ".id"}, "", true},
		{[]string{"--template", "{{.id}}"}, "", true},
		{[]string{"--json", "--jq", ".id"}, "", true},
		{[]string{"-q"}, "", false},
		{[]string{"-q", "-o", "d", "--name", "{id}.{ext}", "--skip-existing"}, "", false},
		{[]string{"--jq", ".["}, "unexpected EOF", true},
		{[]string{"--template", "{{.id"}, "unclosed action", false},
		{[]string{"--jq", ".", "--template", "x"}, "pick one", true},
		{[]string{"-q", "--json"}, "-q prints ids or paths, --json prints JSON: pick one", true},
		{[]string{"-q", "--jq", ".id"}, "pick one", true},
		{[]string{"--overwrite", "--skip-existing", "-o", "d"}, "pick one", false},
		{[]string{"--name", "{id}"}, "--name names or keeps downloaded files: it goes with -o DIR", false},
		{[]string{"--overwrite"}, "goes with -o DIR", false},
		{[]string{"-o", "d", "--name", "{nope}"}, "unknown placeholder {nope}", false},
	} {
		_, o, asJSON, err := outputCmd(t, f, c.args...)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		case c.want == "" && *asJSON != c.json:
			t.Errorf("%v: --json %v", c.args, *asJSON)
		case c.want == "" && f.outputFlags() != o:
			t.Errorf("%v: not the running flags", c.args)
		}
		var fe *FlagError
		// Parse errors become usage errors in cobra (FlagErrorFunc);
		// the checks after parsing are usage errors themselves.
		if err != nil && !strings.HasPrefix(err.Error(), "invalid argument") && !errors.As(err, &fe) {
			t.Errorf("%v: %T is not a usage error", c.args, err)
		}
	}
	// A command without them prints plainly again.
	applyOutputFlags(f, &cobra.Command{Use: "plain"})
	if f.outputFlags() != nil {
		t.Fatal("flags of the previous command still apply")
	}
}

// The registry lets go of a Factory that is gone.
func TestOutputFlagsRegistryCleanup(t *testing.T) {
	f, _, _, _ := historyFactory(t.TempDir())
	if _, _, _, err := outputCmd(t, f, "-q"); err != nil {
		t.Fatal(err)
	}
	key := weak.Make(f)
	if _, ok := running.Load(key); !ok {
		t.Fatal("not registered")
	}
	f = nil
	for range 200 {
		runtime.GC()
		if _, ok := running.Load(key); !ok {
			return
		}
		time.Sleep(5 * time.Millisecond) // cleanups run after the GC, on their own goroutine
	}
	t.Fatal("the registry kept a collected Factory's flags")
}

func TestPrintResultFiltered(t *testing.T) {
	res := &output.Result{ID: "7", TrackID: "t7", Endpoint: "text2img", Status: "success",
		Output: []string{"https://x/7-0.png"}, Files: []string{"out/7-0.png"}}

	// -q: the files only, nothing on stderr
	f, _, out, errOut := historyFactory(t.TempDir())
	if _, _, _, err := outputCmd(t, f, "-q"); err != nil {
		t.Fatal(err)
	}
	if err := f.printResult(res, false, ""); err != nil || out.String() != "out/7-0.png\n" || errOut.Len() != 0 {
		t.Fatalf("-q: %v %q %q", err, out, errOut)
	}
	// a pending job: its id, no "submitted" line
	out.Reset()
	o := &runner.Outcome{ID: "8", Status: runner.StatusProcessing}
	err := printOutcome(f, o, nil, outcomeView{Pending: func(*runner.Outcome) string { return "submitted 8" }})
	if err != nil || out.String() != "8\n" || errOut.Len() != 0 {
		t.Fatalf("-q pending: %v %q %q", err, out, errOut)
	}

	// --jq: applied to the JSON, with the error member of a partial one
	f, _, out, errOut = historyFactory(t.TempDir())
	if _, _, _, err := outputCmd(t, f, "--jq", ".error // .files[0]"); err != nil {
		t.Fatal(err)
	}
	if err := f.printResult(res, true, ""); err != nil || out.String() != "out/7-0.png\n" {
		t.Fatalf("--jq: %v %q", err, out)
	}
	out.Reset()
	if err := f.printResult(res, true, "download x: HTTP 500"); err != nil || out.String() != "download x: HTTP 500\n" {
		t.Fatalf("--jq with an error member: %v %q", err, out)
	}

	// a filter that fails: reported once, exit 4, the job named
	f, _, out, errOut = historyFactory(t.TempDir())
	if _, _, _, err := outputCmd(t, f, "--jq", ".id | keys"); err != nil {
		t.Fatal(err)
	}
	err = f.printResult(res, true, "")
	if code := exitCodeFor(err); code != ExitAPI || !isQuiet(err) {
		t.Fatalf("exit %d (%v)", code, err)
	}
	if !strings.Contains(errOut.String(), "error: --jq: keys cannot be applied") || !strings.Contains(errOut.String(), "mlab jobs view 7 --json") || out.Len() != 0 {
		t.Fatalf("stderr %q stdout %q", errOut, out)
	}
	// ... and a failed job keeps its own exit code
	errOut.Reset()
	failed := &runner.FailedError{ID: "7"}
	err = printOutcome(f, &runner.Outcome{ID: "7", Status: runner.StatusFailed}, failed, outcomeView{JSON: true})
	if code := exitCodeFor(err); code != ExitFailed {
		t.Fatalf("failed job with a failing filter: exit %d (%v)", code, err)
	}
}
