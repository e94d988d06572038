package cmd

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/links"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/relay"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/spf13/cobra"
)

// kindEndpoints maps --kind to an endpoint whose fetch path serves every
// job of that kind (they share one fetch endpoint per service).
var kindEndpoints = map[string]string{
	"img": "text2img", "video": "text2video", "audio": "text_to_speech", "tts": "text_to_speech",
	"3d": "text_to_3d", "edit": "super_resolution", "train": "lora_fine_tune", "workflow": "workflow_run",
}

// WaitOptions are the flags of `mlab wait` and `mlab fetch`.
type WaitOptions struct {
	f            *Factory
	Ref          string
	Batch        string
	Concurrency  int
	OutputDir    string
	JSON         bool
	Timeout      time.Duration
	PollInterval time.Duration
	Kind         string
	Endpoint     string
	Params       []string
	// ResubmitUnknown: with --batch, submit again the lines whose submit
	// was sent and never answered (they may have been paid for).
	ResubmitUnknown bool
	MaxDownload     string
	Out             OutputFlags // --jq, --template, -q (and for wait the file flags)
	Relay           string      // --relay URL (env MLAB_RELAY): read a relayed job's stored webhook

	maxBytes int64
}

func addResumeFlags(cmd *cobra.Command, o *WaitOptions) {
	fl := cmd.Flags()
	fl.BoolVar(&o.JSON, "json", false, "print one JSON object on stdout")
	fl.StringVar(&o.Kind, "kind", "", "for a job not in the journal: img, video, audio, 3d, edit, train or workflow")
	fl.StringVar(&o.Endpoint, "endpoint", "", "for a job not in the journal: the catalogue endpoint it was submitted to")
	fl.StringArrayVarP(&o.Params, "param", "p", nil, "path parameter `name=value` for --endpoint/--kind (e.g. workflow_id)")
}

func newCmdWait(f *Factory, runF func(context.Context, *WaitOptions) error) *cobra.Command {
	opts := &WaitOptions{f: f}
	cmd := &cobra.Command{
		Use:   "wait ID|TRACK_ID",
		Short: "Resume waiting for a job (after Ctrl-C, a timeout or a crash)",
		Long: `Pick up a submitted job again and wait for it by polling (its old webhook URL
is gone), with the same output and exit codes as the command that submitted
it. The job is looked up in the local journal (see 'mlab jobs'); a job that is
not there works too when --kind or --endpoint says how to fetch it.

A job that already finished is not fetched again: its outputs are printed and
only the files that are missing from disk are downloaded again. Output links
expire (temporary ones after 24 h), so download promptly.

` + exitCodesHelp,
		Example: `  $ mlab img "a lighthouse" --wait --timeout 1m -o out/   # exits 3, prints the id
  $ mlab wait 134701497 -o out/
  $ mlab wait mlab-63a3f91ada59a8af --json          # by track_id
  $ mlab wait 987654 --kind video -o clips/         # a job submitted elsewhere
  $ mlab wait --batch b-1a2b3c4d5e6f -o out/ --json  # the unfinished jobs of a batch`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.Batch != "" {
				if len(args) != 0 {
					return flagErrorf("mlab wait --batch BATCH_ID takes no other argument")
				}
				return nil
			}
			if len(args) != 1 {
				return flagErrorf("mlab wait takes one ID or TRACK_ID (see 'mlab jobs'), got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Ref = args[0]
			}
			if opts.Timeout <= 0 {
				return flagErrorf("--timeout must be positive")
			}
			if opts.Concurrency < 1 {
				return flagErrorf("--concurrency must be at least 1")
			}
			if opts.ResubmitUnknown && opts.Batch == "" {
				return flagErrorf("--resubmit-unknown goes with --batch")
			}
			if opts.Batch == "" && cmd.Flags().Changed("concurrency") {
				f.IO.Warnf("--concurrency does nothing without --batch")
			}
			if err := checkDownloadFlags(opts.OutputDir, opts.MaxDownload, &opts.maxBytes); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Batch != "" {
				return resumeBatch(cmd.Context(), opts)
			}
			return runWait(cmd.Context(), opts)
		},
	}
	addResumeFlags(cmd, opts)
	fl := cmd.Flags()
	fl.StringVarP(&opts.OutputDir, "output-dir", "o", "", "download the outputs into `DIR` and print their paths")
	addOutputFlags(fl, &opts.Out)
	durationFlag(fl, &opts.Timeout, "timeout", 30*time.Minute, "give up after this long, downloads included (exit 3; the job goes on)")
	durationFlag(fl, &opts.PollInterval, "poll-interval", job.DefaultPollInterval, pollIntervalHelp)
	fl.StringVar(&opts.Batch, "batch", "", "resume every unfinished job of batch `BATCH_ID`")
	fl.IntVar(&opts.Concurrency, "concurrency", 50, "with --batch: jobs polled at once")
	fl.StringVar(&opts.Relay, "relay", "", "for a job submitted with --relay: the webhook relay's Redis `URL` (default MLAB_RELAY, else the journalled one without its password)")
	fl.BoolVar(&opts.ResubmitUnknown, "resubmit-unknown", false, "with --batch: submit again the lines whose submit got no answer (they may have been paid for)")
	addMaxDownloadFlag(fl, &opts.MaxDownload)
	return cmd
}

func newCmdFetch(f *Factory) *cobra.Command {
	opts := &WaitOptions{f: f}
	cmd := &cobra.Command{
		Use:   "fetch ID|TRACK_ID",
		Short: "Ask the API once for a job's current state",
		Long: `Fetch a job's current state once and print it: its output URLs when it is done
(exit 0), its message when it failed (exit 1), its id when it is still
processing (exit 0). The journal is updated when the job turns out finished
(what it knows of the job, its files among them, is kept).`,
		Example: `  $ mlab fetch 134701497
  $ mlab fetch 134701497 --json | jq -r .status
  $ mlab fetch F5jvdzGnYi --kind train`,
		Args: exactArgs(1, "mlab fetch takes one ID or TRACK_ID, got %d"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if opts.Timeout <= 0 {
				return flagErrorf("--timeout must be positive")
			}
			return runFetch(cmd.Context(), opts)
		},
	}
	addResumeFlags(cmd, opts)
	addFilterFlags(cmd.Flags(), &opts.Out)
	addQuietFlag(cmd.Flags(), &opts.Out, "print only the job's output URLs when it is done, else its id")
	durationFlag(cmd.Flags(), &opts.Timeout, "timeout", time.Minute, "give up after this long (exit 4)")
	return cmd
}

// lookup finds the job to resume: in the journal, or as --kind/--endpoint
// describe it. It also returns the journal, open (nil when it could not be
// opened).
func (o *WaitOptions) lookup() (*runner.Job, *journal.Journal, error) {
	jr, jerr := openHistoryJournal(o.f)
	if jerr != nil {
		jr = nil
	}
	fail := func(err error) (*runner.Job, *journal.Journal, error) {
		if jr != nil {
			jr.Close()
		}
		return nil, nil, err
	}
	explicit := o.Endpoint != "" || o.Kind != ""
	if jr != nil {
		e, err := jr.Get(o.Ref)
		switch {
		case err == nil && !explicit:
			ep, err := journalEndpoint(e.ID, e.Endpoint, e.PathParams)
			if err != nil {
				return fail(err)
			}
			return runner.Resumed(ep, *e), jr, nil
		case err != nil && !errors.Is(err, journal.ErrNotFound):
			return fail(fmt.Errorf("read the job journal: %w", err))
		}
	}
	if !explicit {
		return fail(flagErrorf("job %s is not in the journal (see 'mlab jobs'); pass --kind (%s) or --endpoint to fetch it anyway", o.Ref, strings.Join(kindNames(), ", ")))
	}
	e, err := o.flagEntry()
	if err != nil {
		return fail(err)
	}
	ep, err := journalEndpoint(e.ID, e.Endpoint, e.PathParams)
	if err != nil {
		return fail(err)
	}
	return runner.Resumed(ep, e), jr, nil
}

// flagEntry describes a job that is not in the journal by the flags.
func (o *WaitOptions) flagEntry() (journal.Entry, error) {
	name := o.Endpoint
	if name == "" {
		if name = kindEndpoints[o.Kind]; name == "" {
			return journal.Entry{}, unknownValue("--kind", o.Kind, kindNames(), "")
		}
	}
	cfg, err := o.f.Config()
	if err != nil {
		return journal.Entry{}, err
	}
	params, err := parseParams(o.Params)
	if err != nil {
		return journal.Entry{}, err
	}
	return journal.Entry{ID: o.Ref, Endpoint: name, BaseURL: cfg.BaseURL, PathParams: params, Status: journal.StatusProcessing}, nil
}

// journalEndpoint is the catalogue row a journalled job (id) was submitted
// to, with its path parameters.
func journalEndpoint(id, name string, params map[string]string) (api.Endpoint, error) {
	ep, ok := api.Lookup(name)
	if !ok {
		return api.Endpoint{}, flagErrorf("job %s was submitted to %q, which this mlab does not know", id, name)
	}
	return withPathParams(ep, params)
}

func kindNames() []string {
	var ks []string
	for k := range kindEndpoints {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// open finds the job and a poll-only runner on its API; call the returned
// function when done (it closes the journal). offline says the runner
// need not call the API for a finished job (mlab wait, not mlab fetch).
func (o *WaitOptions) open(ctx context.Context, offline bool) (*runner.Job, *runner.Runner, func(), error) {
	j, jr, err := o.lookup()
	if err != nil {
		return nil, nil, nil, err
	}
	closeJournal := func() {
		if jr != nil {
			jr.Close()
		}
	}
	jo := o.jobOptions()
	if !j.Entry.SubmittedAt.IsZero() {
		jo.started = j.Entry.SubmittedAt // its time counts from the submit
	}
	offline = offline && (j.Entry.Finished() || j.Entry.ID == "")
	if !offline {
		rl, err := o.relayFor(ctx, j.Entry)
		if err != nil {
			closeJournal()
			return nil, nil, nil, err
		}
		if rl != nil {
			jo.relay = rl
			prev := closeJournal
			closeJournal = func() { rl.Close(); prev() }
		}
	}
	r, err := resumeRunner(o.f, jo, j.Entry.BaseURL, offline, jr, "")
	if err != nil {
		closeJournal()
		return nil, nil, nil, err
	}
	return j, r, closeJournal, nil
}

// relayFor opens the relay an unfinished relayed job (e) reads what was
// stored for its token from: --relay / MLAB_RELAY, else the URL journalled
// with it (which keeps no password). nil without a token, a URL or Redis.
func (o *WaitOptions) relayFor(ctx context.Context, e *journal.Entry) (*jobRelay, error) {
	if e == nil || e.RelayToken == "" || e.Finished() {
		return nil, nil
	}
	u := o.f.relayURL(o.Relay)
	hint := ""
	if u == "" {
		u = e.RelayURL
		if relay.IsRedacted(u) {
			hint = "; the journal keeps the relay's URL without its password: give --relay URL or set " + relayEnv
		}
	}
	if u == "" {
		return nil, nil
	}
	return openJobRelay(ctx, o.f, u, true, hint)
}

// jobOptions are the job options of a resume.
func (o *WaitOptions) jobOptions() *JobOptions {
	jo := &JobOptions{Wait: true, OutputDir: o.OutputDir, JSON: o.JSON, Timeout: o.Timeout, PollInterval: o.PollInterval, ProbeRate: links.DefaultRate,
		Batch: o.Batch, Concurrency: o.Concurrency, maxBytes: o.maxBytes, started: time.Now(), Out: o.Out}
	if jo.PollInterval <= 0 {
		jo.PollInterval = job.DefaultPollInterval
	}
	return jo
}

func runWait(ctx context.Context, o *WaitOptions) error {
	ui := newSingleUI(o.f)
	defer ui.done()
	return o.resume(ctx, true, func(ctx context.Context, j *runner.Job, r *runner.Runner) (*runner.Outcome, outcomeView, error) {
		out, err := r.Run(ctx, j, ui)
		return out, outcomeView{
			JSON: o.JSON,
			Resume: func(out *runner.Outcome) string {
				if out.TrackID == "" {
					return "it keeps running at ModelsLab; resume with: mlab wait " + shellQuote(output.Safe(o.Ref)) + o.describedBy() + resumeFlags(o.OutputDir, o.JSON)
				}
				return resumeHint(r, j, out, o.OutputDir, o.JSON)
			},
		}, err
	})
}

func runFetch(ctx context.Context, o *WaitOptions) error {
	return o.resume(ctx, false, func(ctx context.Context, j *runner.Job, r *runner.Runner) (*runner.Outcome, outcomeView, error) {
		out, err := r.Fetch(ctx, j, newSingleUI(o.f))
		return out, outcomeView{
			JSON: o.JSON,
			Pending: func(out *runner.Outcome) string {
				return fmt.Sprintf("job %s is still %s; wait for it with: mlab wait %s", output.Safe(out.ID), output.Safe(out.Stage), shellQuote(o.Ref))
			},
		}, err
	})
}

// resume runs do on the job o names, within --timeout, and prints its
// outcome as do's view says.
func (o *WaitOptions) resume(ctx context.Context, offline bool, do func(context.Context, *runner.Job, *runner.Runner) (*runner.Outcome, outcomeView, error)) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	j, r, closeAll, err := o.open(ctx, offline)
	if err != nil {
		return err
	}
	defer closeAll()
	out, view, err := do(ctx, j, r)
	return printOutcome(o.f, out, err, view)
}

// describedBy repeats the flags that describe a job not in the journal
// (--kind, --endpoint, -p), for a resume hint.
func (o *WaitOptions) describedBy() string {
	s := ""
	if o.Kind != "" {
		s += " --kind " + shellQuote(o.Kind)
	}
	if o.Endpoint != "" {
		s += " --endpoint " + shellQuote(o.Endpoint)
	}
	for _, p := range o.Params {
		s += " -p " + shellQuote(p)
	}
	return s
}
