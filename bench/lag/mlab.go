package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/sandbox"
)

// buildMlab builds the mlab binary from the module in src into a temporary
// directory, which the caller removes.
func buildMlab(src string) (bin, dir string) {
	dir, err := os.MkdirTemp("", "lag")
	if err != nil {
		log.Fatal(err)
	}
	bin = filepath.Join(dir, "mlab")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		log.Fatalf("lag: build mlab in %s: %v", src, err)
	}
	return bin, dir
}

// line is one JSON result line of mlab.
type line struct {
	at          time.Time
	status, via string
}

// mlabSide is what the mlab process did.
type mlabSide struct {
	side
	lines    map[string]line // first line of each job id
	results  int             // lines read, duplicates included
	exit     int             // -1: killed or not started
	timedOut bool
	stderr   string // its tail, for a failure
}

func (m *mlabSide) viaText() string {
	count := map[string]int{}
	for _, l := range m.lines {
		count[cmpOr(l.via, "none")]++
	}
	var parts []string
	for _, v := range slices.Sorted(maps.Keys(count)) {
		parts = append(parts, fmt.Sprintf("%s %d", v, count[v]))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// problemList lists what makes the run a failure: a non-zero exit, a
// timeout, a job without its line, a job reported twice, a job not
// successful.
func (m *mlabSide) problemList(jobs int) []string {
	p := slices.Clone(m.problems)
	if m.timedOut {
		p = append(p, "mlab killed: the run exceeded -timeout")
	}
	if m.exit != 0 {
		msg := fmt.Sprintf("mlab exited %d", m.exit)
		if m.stderr != "" {
			msg += " (stderr: " + m.stderr + ")"
		}
		p = append(p, msg)
	}
	if len(m.lines) < jobs {
		p = append(p, fmt.Sprintf("%d of %d jobs lost (no result line)", jobs-len(m.lines), jobs))
	}
	if m.results > len(m.lines) {
		p = append(p, fmt.Sprintf("%d results reported twice", m.results-len(m.lines)))
	}
	for id, l := range m.lines {
		if l.status != "success" {
			p = append(p, fmt.Sprintf("job %s ended %q", id, l.status))
		}
	}
	return p
}

// childEnv is the environment of mlab: this one without the variables that
// would steer it elsewhere, plus the sandbox and a state and a config
// directory of its own (so no journal history leaks between runs).
func childEnv(base, work string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MLAB_") || strings.HasPrefix(k, "MODELSLAB_") || strings.HasPrefix(k, "NGROK_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"MODELSLAB_BASE_URL="+base,
		"MODELSLAB_API_KEY="+apiKey,
		"MLAB_STATE_DIR="+filepath.Join(work, "state"),
		"MLAB_CONFIG_DIR="+filepath.Join(work, "config"))
}

// runMlab runs mlab with args against the sandbox sb at base until it
// exits or ctx ends (then it is killed). With prompts, the first "" in
// args is replaced by the path of a file holding them, one a line (for
// --batch). Each JSON line read from its stdout is a finished job: its lag
// is the moment the line was read minus the job's DoneAt.
func runMlab(ctx context.Context, bin string, sb *sandbox.Server, base string, args, prompts []string) *mlabSide {
	m := &mlabSide{side: side{lags: map[string]time.Duration{}}, lines: map[string]line{}, exit: -1}
	work, err := os.MkdirTemp("", "lag-work")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	args = slices.Clone(args)
	if len(prompts) > 0 {
		file := filepath.Join(work, "prompts.txt")
		if err := os.WriteFile(file, []byte(strings.Join(prompts, "\n")+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		if i := slices.Index(args, ""); i >= 0 {
			args[i] = file
		}
	}

	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(base, work)
	cmd.WaitDelay = 2 * time.Second
	var stderr tail
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		m.problems = append(m.problems, fmt.Sprintf("start mlab: %v", err))
		return m
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		at := time.Now()
		var res struct{ ID, Status, Via string }
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil || res.ID == "" {
			m.problems = append(m.problems, fmt.Sprintf("not a result line on stdout: %q", clip(sc.Text())))
			continue
		}
		m.results++
		if _, dup := m.lines[res.ID]; dup {
			continue
		}
		m.lines[res.ID] = line{at: at, status: res.Status, via: res.Via}
		if res.Status != "success" {
			continue
		}
		if done, ok := sb.DoneAt(res.ID); ok {
			m.lags[res.ID] = at.Sub(done)
		} else {
			m.problems = append(m.problems, fmt.Sprintf("job %s is not the sandbox's", res.ID))
		}
	}
	err = cmd.Wait()
	m.wall = time.Since(start)
	m.timedOut = ctx.Err() != nil
	var ee *exec.ExitError
	switch {
	case err == nil:
		m.exit = 0
	case errors.As(err, &ee):
		m.exit = ee.ExitCode() // -1 when killed
	default:
		m.problems = append(m.problems, fmt.Sprintf("mlab: %v", err))
	}
	m.stderr = strings.TrimSpace(stderr.String())
	m.stats = sb.Stats()
	return m
}

// tail keeps the last 2 KiB written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(bytes.ReplaceAll(t.b, []byte("\n"), []byte(" | "))) }

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// lateRun is the late-webhook case: one job done at 0.8 s, its webhook
// 2.4 s after that; when did mlab have the result, and by what?
type lateRun struct {
	m     *mlabSide
	sb    *sandbox.Server
	delay time.Duration // the webhook's lateness
	etaOf time.Duration
}

func runLate(bin string, c config) *lateRun {
	r := &lateRun{delay: 2400 * time.Millisecond, etaOf: 800 * time.Millisecond}
	opts := sandbox.Options{Delay: r.etaOf, ETA: r.etaOf, LateWebhookRate: 1, LateWebhookDelay: r.delay, Seed: c.seed, NoRecord: true}
	sb, base := newSandbox(opts)
	defer sb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	r.m = runMlab(ctx, bin, sb, base, []string{"img", "late webhook", "--wait", "--json", "--tunnel", "local"}, nil)
	r.sb = sb // Close leaves JobTimes answering
	return r
}

// lag is the one job's lag, its via and the time from its submit to its
// result line, and whether it ended.
func (r *lateRun) lag() (lag time.Duration, via string, fromSubmit time.Duration, ok bool) {
	for id, d := range r.m.lags {
		if created, _, _, ok := r.sb.JobTimes(id); ok {
			fromSubmit = r.m.lines[id].at.Sub(created)
		}
		return d, r.m.lines[id].via, fromSubmit, true
	}
	return 0, "", 0, false
}

func (r *lateRun) print(w *os.File) {
	m := r.m
	fmt.Fprintf(w, "weather=late: one job done at %s (eta %s), its webhook %s after done (mlab img x --wait --json --tunnel local)\n", secs(r.etaOf), secs(r.etaOf), secs(r.delay))
	fmt.Fprintf(w, "  mlab: exit=%d results=%d wall=%s fetches=%d probes=%d max_probes/s=%d webhooks_sent=%d\n",
		m.exit, m.results, m.wall.Round(10*time.Millisecond), m.stats.Fetches, m.stats.Probes, m.stats.MaxProbesPerSecond, m.stats.WebhooksSent)
	if d, via, sub, ok := r.lag(); ok {
		fmt.Fprintf(w, "  result %s after done (%s after the submit arrived), via %s; the webhook was due %s after done\n", dur(d), dur(sub), via, dur(r.delay))
		fmt.Fprintf(w, "  issue 14 target: by links within 1 s of done: %s\n", yes(via == "links" && d <= time.Second))
	}
}

func (r *lateRun) problems() []string { return r.m.problemList(1) }

func (r *lateRun) row() string {
	cell := "no result"
	if d, via, sub, ok := r.lag(); ok {
		cell = fmt.Sprintf("result %s after done (%s after submit), via %s; %d fetches, %d probes", dur(d), dur(sub), via, r.m.stats.Fetches, r.m.stats.Probes)
	}
	return fmt.Sprintf("| late webhook (job done at %s, webhook %s later) | — | %s | — |", secs(r.etaOf), secs(r.delay), cell)
}

// apiKey is the key both clients send (mlab refuses one under 8
// characters; the sandbox takes any).
const apiKey = "lag-bench-key"
