// Command lag measures how long mlab takes to know a job's result once it
// is ready, side by side with a reference poller that follows the official
// ModelsLab CLI's documented wait, on the same jobs, in one run.
//
//	go run ./bench/lag                                   # all three weathers, 20 jobs of 1-60 s
//	go run ./bench/lag -weather lost -jobs 10 -min 2s -max 38s
//	go run ./bench/lag -weather late                     # the late-webhook case
//	go run ./bench/lag -src /tmp/base                    # mlab built from another tree (before/after)
//
// For each weather two sandboxes with identical options and seed are
// started: mlab runs one `img --batch --wait --json` process against A, the
// reference poller submits the same number of jobs to B. The sandbox draws
// a job's duration and eta from the seed and the job's id, and both servers
// hand out the same ids, so the k-th job has the same duration and eta on
// both sides. Weathers:
//
//   - delivered: webhooks sent, mlab --tunnel local;
//   - lost: webhooks never sent (DropWebhooks) while mlab --tunnel local
//     expects one;
//   - poll: mlab --tunnel none;
//   - late: one job done at 0.8 s whose webhook comes 2.4 s after that,
//     mlab `img x --wait --json --tunnel local` (no reference).
//
// A job's lag is the moment its result was known minus the sandbox's done
// time for it (Server.DoneAt): for mlab, when its JSON line was read from
// stdout; for the reference, when the fetch that said success answered.
// Everything runs on loopback.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/sandbox"
)

// config is the command line.
type config struct {
	jobs     int
	min, max time.Duration
	etaError float64
	seed     int64
	timeout  time.Duration
	verbose  bool
}

// weathers are the side-by-side runs, in the order "all" runs them.
var weathers = []string{"delivered", "lost", "poll"}

func main() {
	weather := flag.String("weather", "all", "all (delivered, lost, poll), delivered, lost, poll or late; or a comma-separated list")
	var c config
	flag.IntVar(&c.jobs, "jobs", 20, "jobs per side and weather")
	flag.DurationVar(&c.min, "min", time.Second, "shortest job")
	flag.DurationVar(&c.max, "max", 60*time.Second, "longest job")
	flag.Float64Var(&c.etaError, "eta-error", 0.3, "the eta reported is off by up to this share either way (sandbox ETAError)")
	flag.Int64Var(&c.seed, "seed", 1, "sandbox seed (durations, eta errors)")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Minute, "bound of one weather's run; mlab is killed past it")
	flag.BoolVar(&c.verbose, "v", false, "print every job: duration, eta, lag on both sides")
	src := flag.String("src", ".", "directory of the mlab module to build (e.g. an untouched copy of HEAD)")
	flag.Parse()
	if c.jobs < 1 || c.min <= 0 || c.max < c.min || c.etaError < 0 || c.timeout <= 0 {
		log.Fatal("lag: want -jobs ≥ 1, 0 < -min ≤ -max, -eta-error ≥ 0, -timeout > 0")
	}

	var list []string
	for _, w := range strings.Split(*weather, ",") {
		switch w = strings.TrimSpace(w); w {
		case "all":
			list = append(list, weathers...)
		case "delivered", "lost", "poll", "late":
			list = append(list, w)
		default:
			log.Fatalf("lag: unknown -weather %q", w)
		}
	}

	bin, dir := buildMlab(*src)
	defer os.RemoveAll(dir)
	fmt.Printf("# go run ./bench/lag %s\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("# mlab built from %s\n\n", absPath(*src))

	bad := false
	var rows []string
	for _, w := range list {
		var r reporter
		if w == "late" {
			r = runLate(bin, c)
		} else {
			r = runWeather(bin, w, c)
		}
		r.print(os.Stdout)
		if p := r.problems(); len(p) > 0 {
			bad = true
			fmt.Printf("  FAIL: %s\n", strings.Join(p, "; "))
		}
		fmt.Println()
		rows = append(rows, r.row())
	}
	title := "case"
	if slices.ContainsFunc(list, func(w string) bool { return w != "late" }) {
		title = fmt.Sprintf("%d jobs of %s–%s, eta off by up to ±%.0f%%, seed %d", c.jobs, secs(c.min), secs(c.max), 100*c.etaError, c.seed)
	}
	fmt.Printf("| %s | reference poller (official CLI schedule) | mlab | reference/mlab mean lag |\n", title)
	fmt.Println("|---|---|---|---|")
	for _, row := range rows {
		fmt.Println(row)
	}
	if bad {
		os.Exit(1)
	}
}

// reporter is the outcome of one weather.
type reporter interface {
	print(w *os.File)
	problems() []string
	row() string // a markdown table row for docs/benchmarks.md
}

// side is what one client did in one weather.
type side struct {
	lags     map[string]time.Duration // job id -> lag, for the jobs that ended success
	stats    sandbox.Stats
	wall     time.Duration
	problems []string
}

// summary holds mean, p90 and max of a side's lags.
type summary struct {
	n              int
	mean, p90, max time.Duration
}

func summarize(lags map[string]time.Duration) summary {
	var l []time.Duration
	for _, d := range lags {
		l = append(l, d)
	}
	if len(l) == 0 {
		return summary{}
	}
	slices.Sort(l)
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	// p90 by nearest rank: the smallest lag with at least 90% of the jobs
	// at or below it (the 9th of 10).
	rank := int(math.Ceil(0.9*float64(len(l)))) - 1
	return summary{n: len(l), mean: sum / time.Duration(len(l)), p90: l[rank], max: l[len(l)-1]}
}

func (s summary) String() string {
	if s.n == 0 {
		return "no job ended"
	}
	return fmt.Sprintf("mean %s, p90 %s, max %s", dur(s.mean), dur(s.p90), dur(s.max))
}

// dur prints a lag the way docs/benchmarks.md does: ms below a second,
// seconds with one decimal above.
func dur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + dur(-d)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// secs prints a job duration bound: "1 s", "0.8 s".
func secs(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", d.Seconds()), "0"), ".") + " s"
}

func perJob(n, jobs int) float64 { return float64(n) / float64(jobs) }

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// newSandbox starts a sandbox on loopback with opts.
func newSandbox(opts sandbox.Options) (*sandbox.Server, string) {
	sb := sandbox.New(opts)
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		log.Fatalf("lag: %v", err)
	}
	return sb, base
}

// weatherRun is one side-by-side weather.
type weatherRun struct {
	weather string
	c       config
	mlab    *mlabSide
	ref     *refSide
	jobs    map[string]jobInfo // id -> duration and eta (sandbox A; B is the same)
}

type jobInfo struct{ dur, eta time.Duration }

func runWeather(bin, weather string, c config) *weatherRun {
	opts := sandbox.Options{Delay: c.min, DelayMax: c.max, ETAError: c.etaError, Seed: c.seed, NoRecord: true}
	tunnel := "local"
	switch weather {
	case "lost":
		opts.DropWebhooks = true
	case "poll":
		tunnel = "none"
	}
	sbA, baseA := newSandbox(opts)
	defer sbA.Close()
	sbB, baseB := newSandbox(opts)
	defer sbB.Close()

	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	prompts := make([]string, c.jobs)
	for i := range prompts {
		prompts[i] = fmt.Sprintf("lag bench %s %d", weather, i)
	}
	r := &weatherRun{weather: weather, c: c, jobs: map[string]jobInfo{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.ref = runReference(ctx, sbB, baseB, prompts)
	}()
	args := []string{"img", "--batch", "", "--concurrency", fmt.Sprint(c.jobs), "--wait", "--json", "--tunnel", tunnel}
	r.mlab = runMlab(ctx, bin, sbA, baseA, args, prompts)
	<-done

	// The same job set on both sides: same ids, same durations and etas.
	for _, id := range slices.Concat(slices.Collect(maps.Keys(r.mlab.lines)), slices.Collect(maps.Keys(r.ref.lags))) {
		if created, doneAt, eta, ok := sbA.JobTimes(id); ok {
			r.jobs[id] = jobInfo{dur: doneAt.Sub(created), eta: eta}
		}
	}
	if a, b := r.mlab.stats.Jobs, r.ref.stats.Jobs; a != c.jobs || b != c.jobs {
		r.ref.problems = append(r.ref.problems, fmt.Sprintf("job sets differ: %d jobs on mlab's sandbox, %d on the reference's, want %d each", a, b, c.jobs))
	}
	return r
}

func (r *weatherRun) print(w *os.File) {
	c := r.c
	fmt.Fprintf(w, "weather=%s jobs=%d durations=%s-%s eta_error=±%.0f%% seed=%d (mlab --tunnel %s)\n",
		r.weather, c.jobs, c.min, c.max, 100*c.etaError, c.seed, map[bool]string{true: "none", false: "local"}[r.weather == "poll"])
	m, ref := r.mlab, r.ref
	fmt.Fprintf(w, "  mlab:      exit=%d results=%d unique=%d wall=%s via=%s\n", m.exit, m.results, len(m.lines), m.wall.Round(10*time.Millisecond), m.viaText())
	fmt.Fprintf(w, "             lag %s; fetches/job %.2f; probes/job %.2f, max %d probes/s\n",
		summarize(m.lags), perJob(m.stats.Fetches, c.jobs), perJob(m.stats.Probes, c.jobs), m.stats.MaxProbesPerSecond)
	fmt.Fprintf(w, "  reference: ended=%d/%d wall=%s\n", len(ref.lags), c.jobs, ref.wall.Round(10*time.Millisecond))
	fmt.Fprintf(w, "             lag %s; fetches/job %.2f; probes/job %.2f\n",
		summarize(ref.lags), perJob(ref.stats.Fetches, c.jobs), perJob(ref.stats.Probes, c.jobs))
	sm, sr := summarize(m.lags), summarize(ref.lags)
	if sm.n > 0 && sr.n > 0 {
		fmt.Fprintf(w, "  ratio reference/mlab mean lag: %s\n", ratio(sr.mean, sm.mean))
		fmt.Fprintf(w, "  issue 14 targets: mlab mean ≤ reference/10: %s; mlab p90 < 1 s: %s; mlab fetches/job ≤ reference: %s\n",
			yes(sm.mean*10 <= sr.mean), yes(sm.p90 < time.Second), yes(m.stats.Fetches <= ref.stats.Fetches))
	}
	if c.verbose {
		fmt.Fprintf(w, "  %-10s %7s %7s  %-18s %s\n", "id", "dur", "eta", "mlab lag (via)", "reference lag (fetches)")
		ids := make([]string, 0, len(r.jobs))
		for id := range r.jobs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			j := r.jobs[id]
			ml := "-"
			if l, ok := m.lags[id]; ok {
				ml = fmt.Sprintf("%s (%s)", dur(l), m.lines[id].via)
			}
			rl := "-"
			if l, ok := ref.lags[id]; ok {
				rl = fmt.Sprintf("%s (%d)", dur(l), ref.fetches(id))
			}
			fmt.Fprintf(w, "  %-10s %7s %7s  %-18s %s\n", id, dur(j.dur), dur(j.eta), ml, rl)
		}
	}
}

func (r *weatherRun) problems() []string {
	return append(r.mlab.problemList(r.c.jobs), r.ref.problems...)
}

var weatherTitle = map[string]string{
	"delivered": "webhooks delivered (`--tunnel local`)",
	"lost":      "webhooks lost, a webhook expected (`--tunnel local`)",
	"poll":      "poll only (`--tunnel none`)",
}

func (r *weatherRun) row() string {
	sm, sr := summarize(r.mlab.lags), summarize(r.ref.lags)
	n := r.c.jobs
	st := r.mlab.stats
	refCell := fmt.Sprintf("%s, %.1f fetches/job", sr, perJob(r.ref.stats.Fetches, n))
	mlabCell := fmt.Sprintf("%s, %.1f fetches/job, %.1f probes/job (max %d/s), via %s",
		sm, perJob(st.Fetches, n), perJob(st.Probes, n), st.MaxProbesPerSecond, r.mlab.viaText())
	rat := "—"
	if sm.n > 0 && sr.n > 0 {
		rat = ratio(sr.mean, sm.mean)
	}
	return fmt.Sprintf("| %s | %s | %s | %s |", weatherTitle[r.weather], refCell, mlabCell, rat)
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "∞"
	}
	x := float64(a) / float64(b)
	if x >= 10 {
		return fmt.Sprintf("%.0f×", x)
	}
	return fmt.Sprintf("%.2f×", x)
}

func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}
