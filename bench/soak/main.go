// Command soak runs a large mlab batch against the in-repo sandbox with
// faults switched on, checks that every job comes back exactly once, and
// prints the figures that docs/benchmarks.md quotes: wall time against the
// ideal, fetch calls per job, CDN probes (per job, and the most within one
// second, against mlab's probe budget), peak RSS of the mlab process, how
// each job ended (via webhook, poll or links), and the latency from a
// job's end (its webhook's arrival, or its completion for jobs ended by
// poll in poll-only mode or by links) to its result line on stdout.
//
//	go run ./bench/soak -jobs 1000 -concurrency 100
//	go run ./bench/soak -src /tmp/base    # mlab built from another tree, for a before/after
//
// It builds mlab itself, runs it as a child process (so RSS is mlab's own),
// and sends traffic only to loopback.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mlabcli/mlab/internal/sandbox"
)

func main() {
	jobs := flag.Int("jobs", 1000, "jobs in the batch")
	conc := flag.Int("concurrency", 100, "--concurrency for mlab")
	minDur := flag.Duration("min", time.Second, "shortest job")
	maxDur := flag.Duration("max", 3*time.Second, "longest job")
	mode := flag.String("mode", "both", "webhook, poll or both")
	faults := flag.Bool("faults", true, "drop 20% of webhooks, duplicate 10%, 5xx on 5% of fetches, a 429 burst")
	extra := flag.String("mlab-args", "", "extra flags for mlab, space-separated (e.g. \"--probe-rate 40\")")
	src := flag.String("src", ".", "directory of the mlab module to build (e.g. an untouched copy of HEAD, for a before/after)")
	flag.Parse()

	bin := buildMlab(*src)
	defer os.RemoveAll(filepath.Dir(bin))
	modes := []string{*mode}
	if *mode == "both" {
		modes = []string{"webhook", "poll"}
	}
	bad := false
	for _, m := range modes {
		r := run(bin, m, *jobs, *conc, *minDur, *maxDur, *faults, *extra)
		r.print()
		if problems := r.problems(); len(problems) > 0 {
			bad = true
			fmt.Printf("  FAIL: %s\n", strings.Join(problems, "; "))
		}
	}
	if bad {
		os.Exit(1)
	}
}

// problems lists what makes a soak run a failure: a non-zero exit, a job
// without its result line, a job reported twice.
func (r *report) problems() []string {
	var p []string
	if r.exit != 0 {
		p = append(p, fmt.Sprintf("mlab exited %d", r.exit))
	}
	if r.unique < r.jobs {
		p = append(p, fmt.Sprintf("%d of %d jobs lost (no result line)", r.jobs-r.unique, r.jobs))
	}
	if r.results > r.unique {
		p = append(p, fmt.Sprintf("%d results duplicated", r.results-r.unique))
	}
	return p
}

func buildMlab(src string) string {
	dir, err := os.MkdirTemp("", "soak")
	if err != nil {
		log.Fatal(err)
	}
	bin := filepath.Join(dir, "mlab")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("build mlab in %s: %v", src, err)
	}
	return bin
}

type report struct {
	mode                string
	jobs, conc          int
	wall, ideal         time.Duration
	results, unique     int
	exit                int
	stats               sandbox.Stats
	rssKB               int64
	lat                 []time.Duration
	viaWebhook, viaPoll int
	// viaLinks counts the jobs that ended by their future links appearing
	// (probed on the CDN); linkLat is their lag, job done -> result line.
	viaLinks int
	linkLat  []time.Duration
	// doneLat is every successful job's lag, job done -> result line,
	// whatever ended it.
	doneLat        []time.Duration
	viaOther       map[string]int
	minDur, maxDur time.Duration
}

func run(bin, mode string, n, conc int, minDur, maxDur time.Duration, faults bool, extraArgs string) *report {
	opts := sandbox.Options{Delay: minDur, DelayMax: maxDur, Seed: 1, NoRecord: true}
	if faults {
		opts.DropWebhookRate = 0.2
		opts.DuplicateWebhookRate = 0.1
		opts.FetchErrorRate = 0.05
		opts.RateLimitEvery, opts.RateLimitBurst, opts.RetryAfter = n/4, 20, time.Second
	}
	if mode == "poll" {
		opts.DropWebhooks = true
	}
	sb := sandbox.New(opts)
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()

	work, _ := os.MkdirTemp("", "soak-work")
	defer os.RemoveAll(work)
	var prompts strings.Builder
	for i := range n {
		fmt.Fprintf(&prompts, "soak prompt %d\n", i)
	}
	os.WriteFile(filepath.Join(work, "prompts.txt"), []byte(prompts.String()), 0o644)

	// In webhook mode the listener sits behind a recording proxy, so the
	// moment each webhook arrives is known: mlab's --tunnel url with its
	// own --listen, the way a user behind a reverse proxy runs it.
	args := []string{"img", "--batch", filepath.Join(work, "prompts.txt"), "--concurrency", fmt.Sprint(conc), "--wait", "--json", "--poll-interval", "1s"}
	args = append(args, strings.Fields(extraArgs)...)
	arrivals := &arrivalLog{at: map[string]time.Time{}}
	if mode == "webhook" {
		listenAddr := freeAddr()
		proxy := startProxy(listenAddr, arrivals)
		defer proxy.Close()
		args = append(args, "--tunnel", "url", "--public-url", "http://"+proxy.Addr, "--listen", listenAddr)
	} else {
		args = append(args, "--tunnel", "none")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MODELSLAB_BASE_URL="+base, "MODELSLAB_API_KEY=soak-bench-key", "MLAB_STATE_DIR="+filepath.Join(work, "state"), "MLAB_CONFIG_DIR="+filepath.Join(work, "config"))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	r := &report{mode: mode, jobs: n, conc: conc, minDur: minDur, maxDur: maxDur, viaOther: map[string]int{}}
	seen := map[string]int{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		at := time.Now()
		var res struct {
			ID, Status, Via string
		}
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			log.Fatalf("not JSON on stdout: %q", sc.Text())
		}
		r.results++
		seen[res.ID]++
		if seen[res.ID] == 1 && res.Status == "success" {
			if t, ok := sb.DoneAt(res.ID); ok {
				r.doneLat = append(r.doneLat, at.Sub(t))
			}
		}
		switch res.Via {
		case "webhook":
			r.viaWebhook++
			if t, ok := arrivals.get(res.ID); ok {
				r.lat = append(r.lat, at.Sub(t))
			}
		case "poll":
			r.viaPoll++
			if mode == "poll" {
				if t, ok := sb.DoneAt(res.ID); ok {
					r.lat = append(r.lat, at.Sub(t))
				}
			}
		case "links":
			r.viaLinks++
			if t, ok := sb.DoneAt(res.ID); ok {
				r.linkLat = append(r.linkLat, at.Sub(t))
			}
		default:
			r.viaOther[res.Via]++
		}
	}
	err = cmd.Wait()
	r.wall = time.Since(start)
	if ee, ok := err.(*exec.ExitError); ok {
		r.exit = ee.ExitCode()
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rssKB = ru.Maxrss
	}
	r.unique = len(seen)
	r.stats = sb.Stats()
	// The ideal: n jobs of mean duration at conc in flight.
	mean := (minDur + maxDur) / 2
	r.ideal = time.Duration(float64(mean) * float64(n) / float64(conc))
	return r
}

func (r *report) print() {
	fmt.Printf("mode=%s jobs=%d concurrency=%d durations=%s-%s\n", r.mode, r.jobs, r.conc, r.minDur, r.maxDur)
	fmt.Printf("  exit=%d results=%d unique_ids=%d via_webhook=%d via_poll=%d via_links=%d", r.exit, r.results, r.unique, r.viaWebhook, r.viaPoll, r.viaLinks)
	for _, v := range slices.Sorted(maps.Keys(r.viaOther)) {
		fmt.Printf(" via_%s=%d", cmp.Or(v, "none"), r.viaOther[v])
	}
	fmt.Println()
	fmt.Printf("  wall=%s ideal=%s (x%.2f)\n", r.wall.Round(10*time.Millisecond), r.ideal.Round(10*time.Millisecond), float64(r.wall)/float64(r.ideal))
	fmt.Printf("  fetches/job=%.2f submits=%d rate_limited=%d webhooks_sent=%d dropped=%d duplicated=%d fetch_5xx=%d\n",
		float64(r.stats.Fetches)/float64(r.jobs), r.stats.Submits, r.stats.RateLimited, r.stats.WebhooksSent, r.stats.WebhooksDropped, r.stats.WebhooksDuplicated, r.stats.FetchErrors)
	fmt.Printf("  probes=%d probes/job=%.2f max_probes/s=%d probes_ready=%d probes_429=%d\n",
		r.stats.Probes, float64(r.stats.Probes)/float64(r.jobs), r.stats.MaxProbesPerSecond, r.stats.ProbesReady, r.stats.ProbesRateLimited)
	fmt.Printf("  peak_rss=%.1f MiB\n", float64(r.rssKB)/1024)
	what := "webhook arrival -> result line (via webhook)"
	if r.mode == "poll" {
		what = "job done -> result line (via poll)"
	}
	printLat(what, r.lat)
	printLat("job done -> result line (via links)", r.linkLat)
	printLat("job done -> result line (all results)", r.doneLat)
}

// printLat prints the p50, p99 and max of lat, if any.
func printLat(what string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	fmt.Printf("  %s: n=%d p50=%s p99=%s max=%s\n", what, len(lat), p(0.5).Round(100*time.Microsecond), p(0.99).Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond))
}

// arrivalLog remembers when the first webhook for each job id arrived.
type arrivalLog struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (a *arrivalLog) get(id string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[id]
	return t, ok
}

type proxyServer struct {
	*http.Server
	Addr string
}

func startProxy(target string, log *arrivalLog) *proxyServer {
	u, _ := url.Parse("http://" + target)
	rp := httputil.NewSingleHostReverseProxy(u)
	addr := freeAddr()
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		var p struct {
			ID json.Number `json:"id"`
		}
		if json.Unmarshal(body, &p) == nil && p.ID != "" {
			log.mu.Lock()
			if _, ok := log.at[p.ID.String()]; !ok {
				log.at[p.ID.String()] = now
			}
			log.mu.Unlock()
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		r.ContentLength = int64(len(body))
		rp.ServeHTTP(w, r)
	})}
	go srv.ListenAndServe()
	waitPort(addr)
	return &proxyServer{Server: srv, Addr: addr}
}

func freeAddr() string {
	l, err := netListen()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
