package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlabcli/mlab/cmd"
	"github.com/mlabcli/mlab/internal/sandbox"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite testscript expectations")

func TestMain(m *testing.M) {
	commands := map[string]func(){
		"mlab": func() { os.Exit(cmd.Main(cmd.BuildInfo{Version: "test", Commit: "abc", Date: "today"})) },
	}
	if _, isCommand := commands[filepath.Base(os.Args[0])]; !isCommand {
		// The scripts spend most of their time waiting (job delays,
		// timeouts, webhooks, process exits), so run several per CPU unless
		// -test.parallel says otherwise: at the default of one per CPU the
		// suite took twice as long with the CPUs mostly idle.
		flag.Parse()
		explicit := false
		flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
		if !explicit {
			flag.Set("test.parallel", strconv.Itoa(4*runtime.GOMAXPROCS(0)))
		}
	}
	testscript.Main(m, commands)
}

// TestScript runs the end-to-end scenarios in testdata/script against the
// real mlab binary and an in-process sandbox API (see the sandbox command).
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("MLAB_CONFIG_DIR", env.WorkDir+"/.config")
			env.Setenv("MLAB_STATE_DIR", env.WorkDir+"/.state")
			env.Setenv("NO_COLOR", "1")
			// Under `go test -race` every exec of mlab is a race-built
			// process, and the race runtime sleeps atexit_sleep_ms (1 s by
			// default) before exiting so other goroutines can finish a
			// report. Hundreds of execs made that most of this suite's wall
			// time; 10 ms still lets a report finish. A GORACE that already
			// sets it wins.
			if g := env.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms") {
				env.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=10"))
			}
			return nil
		},
		Cmds: scriptCmds,
	})
}

// scriptCmds are the custom testscript commands. Other _test.go files of
// package main add theirs in an init function.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"sandbox":          cmdSandbox,
	"sandbox-requests": cmdSandboxRequests,
	"exits":            cmdExits,
	"interrupt":        cmdInterrupt, // in script_listen_test.go
	"post":             cmdPost,
	"json":             cmdJSON,
	"wait-submit":      cmdWaitSubmit,
	"ispng":            cmdIsPNG,
	"wait-journal":     cmdWaitJournal,
	"capture":          cmdCapture,
	"unique-ids":       cmdUniqueIDs,
}

var sandboxes sync.Map // *testscript.TestScript → *sandbox.Server

// sandbox [FLAGS] takes the flags of `mlab sandbox` (default --delay 300ms),
// starts an in-process sandbox API for this script and points
// MODELSLAB_BASE_URL at it.
func cmdSandbox(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! sandbox")
	}
	fs := pflag.NewFlagSet("sandbox", pflag.ContinueOnError)
	var o sandbox.Options
	cmd.SandboxFlags(fs, &o)
	// Scripts want quick jobs unless they say otherwise.
	fs.Set("delay", "300ms")
	if err := fs.Parse(args); err != nil {
		ts.Fatalf("sandbox: %v", err)
	}
	srv := sandbox.New(o)
	base, err := srv.Start("127.0.0.1:0")
	ts.Check(err)
	ts.Defer(func() { srv.Close() })
	sandboxes.Store(ts, srv)
	ts.Setenv("MODELSLAB_BASE_URL", base)
	ts.Setenv("SANDBOX_URL", base)
}

// sandbox-requests prints the API requests the sandbox received, one JSON
// object per line (keys redacted), for stdout assertions.
func cmdSandboxRequests(ts *testscript.TestScript, neg bool, args []string) {
	v, ok := sandboxes.Load(ts)
	if !ok {
		ts.Fatalf("sandbox-requests: no sandbox started")
	}
	w := ts.Stdout()
	for _, r := range v.(*sandbox.Server).Requests() {
		b, err := json.Marshal(struct {
			Method    string         `json:"method"`
			Path      string         `json:"path"`
			Body      map[string]any `json:"body"`
			HeaderKey bool           `json:"header_key"`
		}{r.Method, r.Path, r.Body, r.HeaderKey})
		ts.Check(err)
		fmt.Fprintf(w, "%s\n", b)
	}
}

// exits CODE PROG [ARGS...] runs PROG like exec and asserts its exit code.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// post URL FILE POSTs FILE's bytes as JSON and prints the status code.
// post URL -size N posts an N-byte JSON body.
func cmdPost(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: post URL FILE | post URL -size N")
	}
	var body io.Reader
	if args[1] == "-size" {
		n, err := strconv.Atoi(args[2])
		ts.Check(err)
		body = strings.NewReader(`{"pad":"` + strings.Repeat("x", n) + `"}`)
	} else {
		body = strings.NewReader(ts.ReadFile(args[1]))
	}
	resp, err := http.Post(args[0], "application/json", body)
	if neg {
		if err == nil {
			resp.Body.Close()
			ts.Fatalf("POST %s answered %d, want a connection error", args[0], resp.StatusCode)
		}
		return
	}
	ts.Check(err)
	resp.Body.Close()
	fmt.Fprintf(ts.Stdout(), "%d\n", resp.StatusCode)
}

// json FILE checks that FILE (or "stdout") holds exactly one JSON object per
// non-empty line and COUNT lines: json stdout 1
func cmdJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: json stdout|FILE COUNT")
	}
	text := ts.ReadFile(args[0])
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			ts.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		n++
	}
	if n != want {
		ts.Fatalf("%d JSON objects, want %d:\n%s", n, want, text)
	}
}

func scriptEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "WORK", "TMPDIR", "MLAB_CONFIG_DIR", "MLAB_STATE_DIR", "NO_COLOR", "MODELSLAB_BASE_URL", "MODELSLAB_API_KEY", "NGROK_AUTHTOKEN", "MLAB_TUNNEL", "GORACE", "GOCOVERDIR"} {
		if v := ts.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func lookPath(ts *testscript.TestScript, prog string) (string, error) {
	for _, dir := range strings.Split(ts.Getenv("PATH"), string(os.PathListSeparator)) {
		p := dir + "/" + prog
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in the script's PATH", prog)
}

// wait-submit waits until the sandbox has received a submit carrying a
// webhook and sets WEBHOOK_URL (the full URL with the job's token) and
// WEBHOOK_BASE (scheme://host:port).
func cmdWaitSubmit(ts *testscript.TestScript, neg bool, args []string) {
	v, ok := sandboxes.Load(ts)
	if !ok {
		ts.Fatalf("wait-submit: no sandbox started")
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range v.(*sandbox.Server).Requests() {
			if hook, ok := r.Body["webhook"].(string); ok && hook != "" {
				ts.Setenv("WEBHOOK_URL", hook)
				ts.Setenv("WEBHOOK_BASE", hook[:strings.LastIndexByte(hook, '/')])
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("wait-submit: no submit with a webhook within 20s")
}

// ispng FILE checks that FILE is a decodable PNG image.
func cmdIsPNG(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: ispng FILE")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	_, err = png.Decode(f)
	if (err == nil) == neg {
		ts.Fatalf("ispng %s: %v", args[0], err)
	}
}

// wait-journal ID... waits until the job journal in $MLAB_STATE_DIR holds every ID.
func cmdWaitJournal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: wait-journal ID...")
	}
	path := ts.Getenv("MLAB_STATE_DIR") + "/journal.jsonl"
	deadline := time.Now().Add(20 * time.Second)
	missing := args
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		missing = slices.DeleteFunc(slices.Clone(args), func(id string) bool {
			return strings.Contains(string(b), `"id":"`+id+`"`)
		})
		if len(missing) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("wait-journal: %v not in %s within 20s", missing, path)
}

// capture stdout|stderr|FILE REGEX VAR sets VAR to REGEX's first submatch.
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: capture stdout|stderr|FILE REGEX VAR")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[0]))
	if len(m) < 2 {
		ts.Fatalf("capture: no match for %q", args[1])
	}
	ts.Setenv(args[2], m[1])
}

// unique-ids stdout|FILE N checks that the JSON lines hold N distinct ids,
// each exactly once.
func cmdUniqueIDs(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: unique-ids stdout|FILE N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(ts.ReadFile(args[0])), "\n") {
		var v struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.ID == "" {
			ts.Fatalf("unique-ids: line %q has no id", line)
		}
		seen[v.ID]++
		if seen[v.ID] > 1 {
			ts.Fatalf("unique-ids: id %s printed twice", v.ID)
		}
	}
	if len(seen) != want {
		ts.Fatalf("unique-ids: %d distinct ids, want %d", len(seen), want)
	}
}
