package cmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/tunnel"
	"github.com/spf13/cobra"
)

// JobOptions are the flags every job command shares: how to submit, whether
// and how to wait, and what to print.
type JobOptions struct {
	Fields       []string      // -F key=value (typed), @file, @-
	RawFields    []string      // -f key=value (always a string)
	TrackID      string        // --track-id; default generated
	Wait         bool          // --wait
	Timeout      time.Duration // --timeout
	OutputDir    string        // -o/--output-dir
	JSON         bool          // --json
	Tunnel       string        // --tunnel
	PublicURL    string        // --public-url
	Listen       string        // --listen
	Webhook      string        // --webhook (no --wait): the user's own receiver
	Sandbox      bool          // --sandbox
	PollInterval time.Duration // --poll-interval
	TunnelWait   time.Duration // --tunnel-timeout
	Batch        string        // --batch FILE ("-" = stdin)
	Concurrency  int           // --concurrency
}

func addJobFlags(cmd *cobra.Command, o *JobOptions) {
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Fields, "field", "F", nil, "add a body field `key=value` (true/false/null/numbers typed; @file reads a file, @- stdin)")
	fl.StringArrayVarP(&o.RawFields, "raw-field", "f", nil, "add a string body field `key=value`")
	fl.StringVar(&o.TrackID, "track-id", "", "track_id to send (default: generated)")
	fl.BoolVarP(&o.Wait, "wait", "w", false, "wait for the result (webhook or polling), then print or download it")
	fl.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "with --wait: give up after this long (exit 3; the job goes on)")
	fl.StringVarP(&o.OutputDir, "output-dir", "o", "", "download the outputs into `DIR` and print their paths")
	fl.BoolVar(&o.JSON, "json", false, "print one JSON object per job on stdout")
	fl.StringVar(&o.Tunnel, "tunnel", "", "webhook receiver: auto, ngrok, local or none (env MLAB_TUNNEL; default auto)")
	fl.StringVar(&o.PublicURL, "public-url", "", "your own public `URL` that forwards to --listen (reverse proxy, tunnel)")
	fl.StringVar(&o.Listen, "listen", "", "local `ADDR` for the webhook listener (default 127.0.0.1:0)")
	fl.StringVar(&o.Webhook, "webhook", "", "without --wait: send results to your own receiver `URL`")
	fl.BoolVar(&o.Sandbox, "sandbox", false, "run against an in-process sandbox API (no key needed)")
	fl.DurationVar(&o.PollInterval, "poll-interval", job.DefaultPollInterval, "first interval between polls (grows to 30s)")
	fl.DurationVar(&o.TunnelWait, "tunnel-timeout", 15*time.Second, "how long the ngrok tunnel may take to come up")
	fl.StringVar(&o.Batch, "batch", "", "run one job per line of `FILE` (- for stdin): a prompt, or a JSON object of request fields merged over the flags")
	fl.IntVar(&o.Concurrency, "concurrency", DefaultConcurrency, "with --batch: jobs in flight at once (your plan's queue limit)")
}

// validate checks the shared flags (usage errors exit 2).
func (o *JobOptions) validate() error {
	if o.Webhook != "" && o.Wait {
		return flagErrorf("--webhook sends the result to your own receiver, so mlab cannot wait for it: drop --wait, or use --public-url to receive it here")
	}
	if o.Webhook != "" {
		if u, err := url.Parse(o.Webhook); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return flagErrorf("--webhook %q: want an absolute http(s) URL", o.Webhook)
		}
	}
	if o.Timeout <= 0 {
		return flagErrorf("--timeout must be positive")
	}
	if o.Concurrency < 1 {
		return flagErrorf("--concurrency must be at least 1")
	}
	if o.Batch != "" && o.TrackID != "" {
		return flagErrorf("--track-id names one job; a --batch gets one generated per line")
	}
	if o.PollInterval < 100*time.Millisecond {
		return flagErrorf("--poll-interval must be at least 100ms")
	}
	if !o.Wait {
		for _, f := range []struct{ name, v string }{{"--tunnel", o.Tunnel}, {"--public-url", o.PublicURL}, {"--listen", o.Listen}} {
			if f.v != "" {
				return flagErrorf("%s only makes sense with --wait", f.name)
			}
		}
	}
	if o.Tunnel != "" {
		if _, err := tunnel.ParseMode(o.Tunnel); err != nil {
			return flagErrorf("--tunnel: %v", err)
		}
	}
	return nil
}

// jobRun is one job: the endpoint, the body and the shared options.
type jobRun struct {
	f          *Factory
	opts       *JobOptions
	ep         api.Endpoint
	body       map[string]any
	pathParams map[string]string
	argField   string // the field plain --batch lines fill ("" = JSON lines only)
}

// runJob is the spine every single-job command shares: check the body,
// open the session (API client, and with --wait the receiver first), submit,
// wait, download, print.
func runJob(ctx context.Context, r *jobRun) error {
	f, o, ios := r.f, r.opts, r.f.IO
	if o.Batch != "" {
		return runBatch(ctx, r, r.argField)
	}
	inputs, err := prepareBody(r.ep, r.body)
	if err != nil {
		return err
	}
	s, err := openSession(ctx, f, o)
	if err != nil {
		return err
	}
	defer s.close()

	if !o.Wait {
		if o.Webhook != "" {
			r.body["webhook"] = o.Webhook
		}
	}
	j := &oneJob{ep: r.ep, body: r.body, inputs: inputs, trackID: o.TrackID, pathParams: r.pathParams}
	ui := newSingleUI(f, r.ep)
	defer ui.done()
	res, err := s.run(ctx, j, ui)
	ui.done()
	switch {
	case err == nil:
		if !o.Wait && res.Status != "success" {
			if o.JSON {
				return output.PrintResult(ios, res, true)
			}
			fmt.Fprintln(ios.Out, res.ID)
			ios.Infof("submitted %s job %s (eta %s); track_id %s", r.ep.Name, res.ID, fmtSeconds(res.ETA), res.TrackID)
			return nil
		}
		return output.PrintResult(ios, res, o.JSON)
	case res == nil:
		return err
	}
	var (
		failed  *job.FailedError
		stopped *runner.StoppedError
	)
	switch {
	case errors.As(err, &failed):
		if o.JSON {
			if perr := output.PrintResult(ios, res, true); perr != nil {
				return perr
			}
		}
		return err
	case errors.As(err, &stopped):
		// The id goes to stdout (or the JSON with status processing) so
		// a script keeps it; stderr says how to follow up.
		if o.JSON {
			if perr := output.PrintResult(ios, res, true); perr != nil {
				return perr
			}
		} else {
			fmt.Fprintln(ios.Out, res.ID)
		}
		return withHint(err, s.resumeHint(j, res))
	}
	return err
}

// singleUI shows one job's wait: a line when submitted, stage lines, and a
// progress bar on a terminal.
type singleUI struct {
	f        *Factory
	ep       api.Endpoint
	progress *output.WaitProgress
	mu       sync.Mutex
	id       string
	eta      time.Duration
	phase    string
	stage    string
	start    time.Time
	stop     chan struct{}
	stopped  chan struct{}
}

func newSingleUI(f *Factory, ep api.Endpoint) *singleUI {
	return &singleUI{f: f, ep: ep, phase: "waiting"}
}

func (u *singleUI) submitted(id string, eta float64, waitingFor string) {
	u.f.IO.Infof("submitted %s job %s (eta %s)%s", u.ep.Name, id, fmtSeconds(eta), waitingFor)
	u.mu.Lock()
	u.id, u.eta, u.start = id, seconds(eta), time.Now()
	u.progress = u.f.IO.NewWaitProgress(u.ep.Name + " " + id)
	stop, stopped := make(chan struct{}), make(chan struct{})
	u.stop, u.stopped = stop, stopped
	u.mu.Unlock()
	go func() {
		defer close(stopped)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				u.mu.Lock()
				if u.progress != nil {
					u.progress.Update(time.Since(u.start), u.eta, u.phase)
				}
				u.mu.Unlock()
			}
		}
	}()
}

func (u *singleUI) update(p job.Progress) {
	u.mu.Lock()
	u.phase = p.Phase
	newStage := p.Stage != "" && p.Stage != u.stage
	if p.Stage != "" {
		u.stage = p.Stage
	}
	if u.progress != nil {
		u.progress.Update(p.Elapsed, p.ETA, p.Phase)
	}
	u.mu.Unlock()
	if newStage {
		// Training stages and workflow states are worth a line of their
		// own, on a terminal or not.
		u.f.IO.Infof("%s %s: %s (%s)", u.ep.Name, u.id, p.Stage, output.FormatDuration(p.Elapsed))
	}
}

func (u *singleUI) done() {
	u.mu.Lock()
	stop, stopped, progress := u.stop, u.stopped, u.progress
	u.stop, u.progress = nil, nil
	u.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
	progress.Done()
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newTrackID() string {
	var b [8]byte
	rand.Read(b[:])
	return "mlab-" + hex.EncodeToString(b[:])
}

func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

func fmtSeconds(s float64) string {
	if s <= 0 {
		return "unknown"
	}
	return seconds(s).Round(100 * time.Millisecond).String()
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
