package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
			env.Setenv("MLAB_CACHE_DIR", env.WorkDir+"/.cache")
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
		Cmds:      scriptCmds,
		Condition: scriptCondition,
	})
}

// scriptCmds are the custom testscript commands. Other _test.go files of
// package main add theirs in an init function.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"sandbox":          cmdSandbox,
	"sandbox-requests": cmdSandboxRequests,
	"sandbox-stats":    cmdSandboxStats,
	"sandbox-stop":     cmdSandboxStop,
	"exits":            cmdExits,
	"interrupt":        cmdInterrupt, // in script_listen_test.go
	"terminate":        cmdTerminate,
	"sleep":            cmdSleep,
	"post":             cmdPost,
	"json":             cmdJSON,
	"wait-submit":      cmdWaitSubmit,
	"ispng":            cmdIsPNG,
	"wait-journal":     cmdWaitJournal,
	"capture":          cmdCapture,
	"unique-ids":       cmdUniqueIDs,
	"exits-within":     cmdExitsWithin,
	"interrupt-submit": cmdInterruptSubmit,
	"wait-submits":     cmdWaitSubmits,
	"submits-once":     cmdSubmitsOnce,
	"fakeapi":          cmdFakeAPI,
}

var sandboxes sync.Map // *testscript.TestScript → *sandbox.Server

// sandbox [--addr HOST:PORT] [FLAGS] takes the flags of `mlab sandbox`
// (default --delay 300ms), starts an in-process sandbox API for this script
// (on --addr, default 127.0.0.1:0) and points MODELSLAB_BASE_URL at it.
func cmdSandbox(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! sandbox")
	}
	fs := pflag.NewFlagSet("sandbox", pflag.ContinueOnError)
	var o sandbox.Options
	cmd.SandboxFlags(fs, &o)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	// Scripts want quick jobs unless they say otherwise, and the ids they
	// name (a script's own flags win).
	fs.Set("delay", "300ms")
	fs.Set("first-id", "134701497")
	// A script that expects "via":"webhook" must not lose to a probe of the
	// files when the machine is busy (--webhook-first=false to race them).
	fs.Set("webhook-first", "true")
	if err := fs.Parse(args); err != nil {
		ts.Fatalf("sandbox: %v", err)
	}
	srv := sandbox.New(o)
	base, err := srv.Start(*addr)
	ts.Check(err)
	ts.Defer(func() { srv.Close() })
	sandboxes.Store(ts, srv)
	ts.Setenv("MODELSLAB_BASE_URL", base)
	ts.Setenv("SANDBOX_URL", base)
}

// sandbox-stop closes the script's sandbox: MODELSLAB_BASE_URL then names
// a closed port (the API unreachable).
func cmdSandboxStop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: sandbox-stop")
	}
	v, ok := sandboxes.Load(ts)
	if !ok {
		ts.Fatalf("sandbox-stop: no sandbox")
	}
	ts.Check(v.(*sandbox.Server).Close())
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

// sandbox-stats prints the sandbox's counters (sandbox.Stats) as one JSON
// object, for stdout assertions.
func cmdSandboxStats(ts *testscript.TestScript, neg bool, args []string) {
	v, ok := sandboxes.Load(ts)
	if !ok || neg {
		ts.Fatalf("sandbox-stats: no sandbox started")
	}
	b, err := json.Marshal(v.(*sandbox.Server).Stats())
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%s\n", b)
}

// exits CODE PROG [ARGS...] runs PROG like exec and asserts its exit code.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := exitCodeOf(err)
	if got < 0 {
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
	for _, k := range []string{"PATH", "HOME", "WORK", "TMPDIR", "MLAB_CONFIG_DIR", "MLAB_STATE_DIR", "MLAB_CACHE_DIR", "NO_COLOR", "MODELSLAB_BASE_URL", "MODELSLAB_API_KEY", "NGROK_AUTHTOKEN", "MLAB_TUNNEL", "MLAB_RELAY", "GORACE", "GOCOVERDIR"} {
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

// exits-within CODE MAX PROG [ARGS...] runs PROG like exec and asserts its
// exit code and that it ended within MAX (a Go duration): the bound of
// --timeout, measured from outside. What the machine takes to start and
// end PROG at all (a `PROG --version` run just before: race-built
// binaries on a loaded CI machine take a while) is not counted.
func cmdExitsWithin(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: exits-within CODE MAX PROG [ARGS...]")
	}
	limit, err := time.ParseDuration(args[1])
	ts.Check(err)
	path, err := lookPath(ts, args[2])
	ts.Check(err)
	t0 := time.Now()
	version := exec.Command(path, "--version")
	version.Env = scriptEnv(ts)
	ts.Check(version.Run())
	overhead := time.Since(t0)
	start := time.Now()
	cmdExits(ts, false, append([]string{args[0]}, args[2:]...))
	took := time.Since(start)
	ts.Logf("%s ended in %s (start-up and exit: %s)", args[2], took.Round(time.Millisecond), overhead.Round(time.Millisecond))
	if took-overhead > limit {
		ts.Fatalf("%s took %s, %s without start-up and exit; want at most %s", args[2], took.Round(time.Millisecond), (took - overhead).Round(time.Millisecond), limit)
	}
}

// sandboxOf returns the script's sandbox.
func sandboxOf(ts *testscript.TestScript, name string) *sandbox.Server {
	v, ok := sandboxes.Load(ts)
	if !ok {
		ts.Fatalf("%s: no sandbox started", name)
	}
	return v.(*sandbox.Server)
}

// submitRequests are the generation submits a sandbox received (uploads,
// fetches and the rest left out).
func submitRequests(srv *sandbox.Server) []sandbox.Request {
	var out []sandbox.Request
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost && !strings.Contains(r.Path, "/fetch") && !strings.HasSuffix(r.Path, "base64_to_url") {
			out = append(out, r)
		}
	}
	return out
}

// waitSubmits waits (up to 20s) until the sandbox has received n submits.
func waitSubmits(ts *testscript.TestScript, srv *sandbox.Server, n int) bool {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if len(submitRequests(srv)) >= n {
			return true
		}
	}
	return false
}

// wait-submits N waits until the sandbox has received N submits (their
// answers may still be held: sandbox --submit-delay).
func cmdWaitSubmits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: wait-submits N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	if !waitSubmits(ts, sandboxOf(ts, "wait-submits"), n) {
		ts.Fatalf("wait-submits: fewer than %d submits within 20s", n)
	}
}

// submits-once N checks that the sandbox received N submits, each with a
// track_id of its own: no job was submitted twice.
func cmdSubmitsOnce(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: submits-once N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	seen := map[string]int{}
	reqs := submitRequests(sandboxOf(ts, "submits-once"))
	for _, r := range reqs {
		track, _ := r.Body["track_id"].(string)
		if seen[track]++; seen[track] > 1 {
			ts.Fatalf("submits-once: track_id %q submitted twice", track)
		}
	}
	if len(reqs) != want {
		ts.Fatalf("submits-once: %d submits, want %d", len(reqs), want)
	}
}

// interrupt-submit [-n N] CODE PROG [ARGS...] starts PROG, sends it SIGINT
// once the sandbox has received N (default 1) submits, whose answers are
// still held (sandbox --submit-delay), and asserts its exit code; PROG's
// stdout and stderr become the script's.
func cmdInterruptSubmit(ts *testscript.TestScript, neg bool, args []string) {
	n := 1
	if len(args) > 2 && args[0] == "-n" {
		var err error
		n, err = strconv.Atoi(args[1])
		ts.Check(err)
		args = args[2:]
	}
	if neg || len(args) < 2 {
		ts.Fatalf("usage: interrupt-submit [-n N] CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	path, err := lookPath(ts, args[1])
	ts.Check(err)
	c := exec.Command(path, args[2:]...)
	c.Dir, c.Env = ts.Getenv("WORK"), scriptEnv(ts)
	var stdout, stderr strings.Builder
	c.Stdout, c.Stderr = &stdout, &stderr
	ts.Check(c.Start())
	if !waitSubmits(ts, sandboxOf(ts, "interrupt-submit"), n) {
		c.Process.Kill()
		c.Wait()
		ts.Fatalf("interrupt-submit: fewer than %d submits within 20s:\n%s", n, stderr.String())
	}
	ts.Check(c.Process.Signal(os.Interrupt))
	got := exitCodeOf(c.Wait())
	ts.Stdout().Write([]byte(stdout.String()))
	ts.Stderr().Write([]byte(stderr.String()))
	if got != want {
		ts.Fatalf("%s exited %d after SIGINT, want %d\n%s", args[1], got, want, stderr.String())
	}
}

// sleep DURATION waits that long (a Go duration).
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// terminate PATTERN CODE PROG [ARGS...] starts PROG, sends it SIGTERM once
// a line of its stderr matches PATTERN, and asserts its exit code; PROG's
// stdout and stderr become the script's.
func cmdTerminate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: terminate PATTERN CODE PROG [ARGS...]")
	}
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	path, err := lookPath(ts, args[2])
	ts.Check(err)
	c := exec.Command(path, args[3:]...)
	c.Dir, c.Env = ts.Getenv("WORK"), scriptEnv(ts)
	var stdout, stderr strings.Builder
	c.Stdout = &stdout
	pipe, err := c.StderrPipe()
	ts.Check(err)
	ts.Check(c.Start())
	matched, readDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pipe)
		var once sync.Once
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if re.MatchString(sc.Text()) {
				once.Do(func() { close(matched) })
			}
		}
	}()
	select {
	case <-matched:
	case <-time.After(20 * time.Second):
		c.Process.Kill()
		<-readDone
		c.Wait()
		ts.Fatalf("terminate: stderr never matched %q:\n%s", args[0], stderr.String())
	}
	ts.Check(c.Process.Signal(syscall.SIGTERM))
	<-readDone
	got := exitCodeOf(c.Wait())
	ts.Stdout().Write([]byte(stdout.String()))
	ts.Stderr().Write([]byte(stderr.String()))
	if got != want {
		ts.Fatalf("%s exited %d after SIGTERM, want %d\n%s", args[2], got, want, stderr.String())
	}
}

// exitCodeOf is the exit code of a finished command's Wait or Run error
// (0 for nil, -1 when it did not run).
func exitCodeOf(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// fakeapi no-id starts a hostile ModelsLab-shaped API for this script,
// one that answers every submit "processing" with no job id, and points
// MODELSLAB_BASE_URL at it.
func cmdFakeAPI(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || args[0] != "no-id" {
		ts.Fatalf("usage: fakeapi no-id")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"processing","message":"queued somewhere, no id for you","eta":1}`)
	}))
	ts.Defer(srv.Close)
	ts.Setenv("MODELSLAB_BASE_URL", srv.URL)
}

// TestKillSoak is the SIGKILL soak: batches killed at random moments while
// their submits are in flight (the sandbox holds each answer 300ms), each
// followed by mlab wait --batch, which submits only the lines never sent.
// Over every round: no line is submitted twice, and every submit the API
// received is in mlab jobs (with its id, or as an unanswered intent).
func TestKillSoak(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	mlab, err := exec.LookPath("mlab")
	if err != nil {
		t.Fatal(err)
	}
	const rounds, lines = 24, 8
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	var kills, unknown, resumed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for round := range rounds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(round)))
			u, r := soakRound(t, mlab, rng, lines)
			kills.Add(1)
			unknown.Add(int64(u))
			resumed.Add(int64(r))
		}()
	}
	wg.Wait()
	t.Logf("%d kills; %d lines left unknown (sent, never answered), %d lines submitted by the resumes",
		kills.Load(), unknown.Load(), resumed.Load())
	if kills.Load() < 20 {
		t.Errorf("%d kills, want at least 20", kills.Load())
	}
}

// lineOfUnknown finds the batch line of a result reported unknown.
var lineOfUnknown = regexp.MustCompile(`"status":"unknown".*"line":(\d+)`)

// soakRound runs one batch, kills it while a submit is in flight, resumes
// it and checks the sandbox's log against the journal. It returns how many
// lines were left unknown and how many the resume submitted.
func soakRound(t *testing.T, mlab string, rng *rand.Rand, lines int) (unknown, resubmitted int) {
	srv := sandbox.New(sandbox.Options{Delay: 200 * time.Millisecond, SubmitDelay: 300 * time.Millisecond, DropWebhooks: true})
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Error(err)
		return
	}
	defer srv.Close()
	dir := t.TempDir()
	var prompts strings.Builder
	for i := range lines {
		fmt.Fprintf(&prompts, "soak line %d\n", i+1)
	}
	if err := os.WriteFile(filepath.Join(dir, "prompts.txt"), []byte(prompts.String()), 0o600); err != nil {
		t.Error(err)
		return
	}
	env := append(os.Environ(), "MLAB_STATE_DIR="+dir+"/state", "MLAB_CONFIG_DIR="+dir+"/config", "HOME="+dir,
		"MODELSLAB_BASE_URL="+base, "MODELSLAB_API_KEY=soak-key-0123", "NO_COLOR=1", "GORACE=atexit_sleep_ms=10")
	run := func(args ...string) (string, int) {
		c := exec.Command(mlab, args...)
		c.Dir, c.Env = dir, env
		out, err := c.Output()
		return string(out), exitCodeOf(err)
	}

	c := exec.Command(mlab, "img", "--batch", "prompts.txt", "--concurrency", "3", "--wait", "--tunnel", "none", "--poll-interval", "100ms", "--json")
	c.Dir, c.Env = dir, env
	if err := c.Start(); err != nil {
		t.Error(err)
		return
	}
	// Kill just after the k-th submit arrived: it (and maybe others) is in
	// flight, its answer held.
	k := 1 + rng.IntN(lines-1)
	waitFor := time.Now().Add(30 * time.Second)
	for len(submitRequests(srv)) < k && time.Now().Before(waitFor) {
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
	c.Process.Kill()
	c.Wait()
	before := len(submitRequests(srv))

	plans, _ := filepath.Glob(filepath.Join(dir, "state", "batches", "b-*.json"))
	if len(plans) != 1 {
		t.Errorf("no batch plan after the kill: %v", plans)
		return
	}
	batch := strings.TrimSuffix(filepath.Base(plans[0]), ".json")
	out, code := run("wait", "--batch", batch, "--json", "--poll-interval", "100ms")
	if code != 0 && code != 4 {
		t.Errorf("mlab wait --batch exited %d:\n%s", code, out)
	}
	unknown = strings.Count(out, `"status":"unknown"`)
	if done := strings.Count(out, `"status":"success"`); code == 0 && unknown != 0 || code == 4 && unknown == 0 {
		t.Errorf("exit %d with %d unknown and %d succeeded", code, unknown, done)
	}
	resubmitted = len(submitRequests(srv)) - before

	jobs, _ := run("jobs", "--json", "--limit", "0")
	perTrack, perLine := map[string]int{}, map[string]int{}
	for _, r := range submitRequests(srv) {
		track, _ := r.Body["track_id"].(string)
		prompt, _ := r.Body["prompt"].(string)
		perTrack[track]++
		perLine[prompt]++
		if perTrack[track] > 1 || perLine[prompt] > 1 {
			t.Errorf("batch %s: %q (track_id %s) submitted twice", batch, prompt, track)
		}
		if !strings.Contains(jobs, `"track_id":"`+track+`"`) {
			t.Errorf("batch %s: the API got a submit of track_id %s that mlab jobs does not list", batch, track)
		}
	}
	// Every line reached the API, except one the kill caught between its
	// journalled intent and its request: mlab cannot know whether that
	// submit left, so it reports it unknown and never sends it again (the
	// money rule); such a line may never have been sent at all.
	unknownLines := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if m := lineOfUnknown.FindStringSubmatch(l); m != nil {
			unknownLines[fmt.Sprintf("soak line %s", m[1])] = true
		}
	}
	for i := range lines {
		if p := fmt.Sprintf("soak line %d", i+1); perLine[p] == 0 && !unknownLines[p] {
			t.Errorf("batch %s: %q was never submitted and is not reported unknown (%d of %d lines submitted)", batch, p, len(perLine), lines)
		}
	}
	return unknown, resubmitted
}
