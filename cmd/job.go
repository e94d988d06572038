package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/links"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	Relay        string        // --relay URL (env MLAB_RELAY): webhooks through a webhook relay, no local tunnel
	Webhook      string        // --webhook (no --wait): the user's own receiver
	Sandbox      bool          // --sandbox
	PollInterval time.Duration // --poll-interval
	ProbeRate    float64       // --probe-rate (0: no link watching)
	TunnelWait   time.Duration // --tunnel-timeout
	Batch        string        // --batch FILE ("-" = stdin)
	Concurrency  int           // --concurrency
	MaxDownload  string        // --max-download-size
	Out          OutputFlags   // --jq, --template, -q, file naming (output_flags.go)

	maxBytes   int64 // MaxDownload parsed (output.DownloadOptions.MaxBytes)
	transcript bool  // the result is the text of the job's text output (stt)
	// lineEndpoint, if set, is the endpoint of a --batch line that names
	// its own model_id (a command that routes by model).
	lineEndpoint func(model string) (api.Endpoint, error)
	started      time.Time              // when a single job's command began (its Elapsed counts from here)
	given        func(name string) bool // whether a flag was given (pflag's Changed); nil: none
	unused       []string               // warnings of validate: flags given that do nothing here
	relay        *jobRelay              // mlab wait: the relay to read a relayed job's webhook from
}

// pollIntervalHelp is the --poll-interval help of job commands and wait.
const pollIntervalHelp = "first gap between fetches after the eta window (grows by half up to 30s); fetches never outnumber the official CLI's (1, 3, 7, 15 s, then one per 10 s)"

// maxProbeRate bounds --probe-rate: link probes go to ModelsLab's CDN.
const maxProbeRate = 200

func addJobFlags(cmd *cobra.Command, o *JobOptions) {
	fl := cmd.Flags()
	o.given = fl.Changed
	fl.StringArrayVarP(&o.Fields, "field", "F", nil, "add a body field `key=value` (true/false/null, numbers and JSON arrays/objects typed; @file reads a file, @- stdin)")
	fl.StringArrayVarP(&o.RawFields, "raw-field", "f", nil, "add a string body field `key=value`")
	fl.StringVar(&o.TrackID, "track-id", "", "track_id to send (default: generated)")
	fl.BoolVarP(&o.Wait, "wait", "w", false, "wait for the result (webhook or polling), then print or download it")
	durationFlag(fl, &o.Timeout, "timeout", 30*time.Minute, "give up after this long, submit, wait and download included (exit 3 once submitted: the job goes on)")
	fl.StringVarP(&o.OutputDir, "output-dir", "o", "", "with --wait: download the outputs into `DIR` and print their paths")
	addMaxDownloadFlag(fl, &o.MaxDownload)
	fl.BoolVar(&o.JSON, "json", false, "print one JSON object per job on stdout")
	addOutputFlags(fl, &o.Out)
	fl.StringVar(&o.Tunnel, "tunnel", "", "with --wait, the webhook receiver: auto, ngrok, local, url (your --public-url) or none (env MLAB_TUNNEL; default auto: with an ngrok authtoken, ngrok if it is up within "+receiver.DefaultAutoBudget.String()+", else no webhook: the outputs are watched and the job polled)")
	fl.StringVar(&o.PublicURL, "public-url", "", "with --wait: your own public `URL` that forwards to --listen (reverse proxy, tunnel)")
	fl.StringVar(&o.Listen, "listen", "", "with --wait: local `ADDR` for the webhook listener (default 127.0.0.1:0)")
	fl.StringVar(&o.Relay, "relay", "", "with --wait: receive webhooks through the webhook relay (mlab listen --relay) at Redis `URL` instead of a local tunnel (redis://[user:pass@]host:6379/0; env MLAB_RELAY)")
	fl.StringVar(&o.Webhook, "webhook", "", "without --wait: send results to your own receiver `URL`")
	fl.BoolVar(&o.Sandbox, "sandbox", false, "run against an in-process sandbox API (no key needed; it ends with the command)")
	durationFlag(fl, &o.PollInterval, "poll-interval", job.DefaultPollInterval, "with --wait: "+pollIntervalHelp)
	fl.Float64Var(&o.ProbeRate, "probe-rate", links.DefaultRate, "with --wait: watch the outputs' future links with at most `N` HEAD requests per second in all (no API call; 0: only poll the API)")
	durationFlag(fl, &o.TunnelWait, "tunnel-timeout", 15*time.Second, "with --wait: how long --tunnel ngrok may take to come up (then exit 4); auto waits for ngrok at most "+receiver.DefaultAutoBudget.String()+" (or this, if lower), then submits without a webhook")
	fl.StringVar(&o.Batch, "batch", "", "run one job per line of `FILE` (- for stdin): a prompt, or a JSON object of request fields merged over the flags")
	fl.IntVar(&o.Concurrency, "concurrency", DefaultConcurrency, "with --batch: jobs in flight at once (your plan's queue limit)")
	registerJobFlagCompletions(cmd)
}

// Flags that do nothing in some combinations. The receiver's flags
// without --wait are usage errors: whoever gives them expects the result
// to come back here. The tuning knobs (how often to poll, how fast to
// probe, how long ngrok may take, how many jobs at once) change nothing of
// what is submitted or paid, and wrappers pass them on every call: a
// one-line warning says they went unused.
var (
	waitOnly   = []string{"tunnel", "public-url", "listen", "relay"}
	waitTuning = []string{"tunnel-timeout", "poll-interval", "probe-rate"}
)

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
	if err := checkDownloadFlags(o.OutputDir, o.MaxDownload, &o.maxBytes); err != nil {
		return err
	}
	if o.Concurrency < 1 {
		return flagErrorf("--concurrency must be at least 1")
	}
	if o.Batch == "" && o.flagGiven("concurrency") {
		o.unused = append(o.unused, "--concurrency does nothing without --batch")
	}
	if o.Batch != "" && o.TrackID != "" {
		return flagErrorf("--track-id names one job; a --batch gets one generated per line")
	}
	if o.PollInterval < 100*time.Millisecond {
		return flagErrorf("--poll-interval must be at least 100ms")
	}
	if o.ProbeRate < 0 || o.ProbeRate > maxProbeRate {
		return flagErrorf("--probe-rate must be between 0 (off) and %d per second", maxProbeRate)
	}
	if !o.Wait {
		for _, name := range waitOnly {
			if o.flagGiven(name) || (name == "tunnel" && o.Tunnel != "") || (name == "public-url" && o.PublicURL != "") || (name == "listen" && o.Listen != "") {
				return flagErrorf("--%s only makes sense with --wait", name)
			}
		}
		for _, name := range waitTuning {
			if o.flagGiven(name) {
				o.unused = append(o.unused, "--"+name+" does nothing without --wait")
			}
		}
	}
	return o.validateReceiver()
}

// validateReceiver checks --tunnel against --public-url (usage errors,
// before any receiver is opened).
func (o *JobOptions) validateReceiver() error {
	mode := receiver.ModeAuto
	if o.Tunnel != "" {
		m, err := receiver.ParseMode(o.Tunnel)
		if err != nil {
			return flagErrorf("--tunnel: %v", err)
		}
		mode = m
	}
	if o.PublicURL != "" {
		if _, err := receiver.ValidatePublicURL(o.PublicURL); err != nil {
			return flagErrorf("--public-url: %v", err)
		}
	}
	switch {
	case mode == receiver.ModeURL && o.PublicURL == "":
		return flagErrorf("--tunnel url needs --public-url (your own public URL that forwards to --listen)")
	case o.PublicURL != "" && mode != receiver.ModeAuto && mode != receiver.ModeURL:
		return flagErrorf("--public-url goes with --tunnel auto or url, not %s", mode)
	}
	return nil
}

// flagGiven reports whether the flag name was given on the command line.
func (o *JobOptions) flagGiven(name string) bool { return o.given != nil && o.given(name) }

// prepareBody drops empty fields and checks the body before anything is
// sent: required fields present, local input files readable (exit 2). It
// returns the local files to upload.
func prepareBody(ep api.Endpoint, body map[string]any) ([]api.LocalInput, error) {
	for k, v := range body {
		if s, ok := v.(string); ok && s == "" {
			delete(body, k)
		}
	}
	if missing := ep.Missing(body); len(missing) > 0 {
		return nil, flagErrorf("%s needs %s (pass it with its flag or -F %s=...)", ep.Name, strings.Join(missing, ", "), missing[0])
	}
	inputs, err := api.LocalInputs(body)
	return inputs, usageOf(err)
}

// usageOf makes a local input file that cannot be sent the usage error it
// is (exit 2), wherever it is found.
func usageOf(err error) error {
	var (
		ie *api.InputError
		fe *FlagError
	)
	if errors.As(err, &ie) && !errors.As(err, &fe) {
		return &FlagError{Err: err}
	}
	return err
}

// runJob is the spine every job command shares: check the body, open the
// runner (API client, journal, and with --wait the receiver first), run the
// job through it and print the outcome. j holds the endpoint and the body
// built from the flags; argField is the field plain --batch lines fill.
func runJob(ctx context.Context, f *Factory, o *JobOptions, j *runner.Job, argField string) error {
	// --timeout bounds the whole command: one deadline from here, for the
	// submit, the wait and the downloads of every job.
	// started is taken first, so the elapsed time of a job stopped at the
	// deadline is never a hair under --timeout.
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(o.Timeout))
	defer cancel()
	for _, w := range o.unused {
		f.IO.Warnf("%s", w)
	}
	if o.Batch != "" {
		return runBatch(ctx, f, o, j, argField) // each job's time counts from its own submit
	}
	o.started = start
	ui := newSingleUI(f)
	defer ui.done()
	return runOne(ctx, f, o, j, ui, func(r *runner.Runner, out *runner.Outcome, err error, dir string) error {
		defer ui.done() // before the runner closes
		defer o.noWaitNotes(f, out, err == nil)
		return printOutcome(f, out, err, outcomeView{
			JSON: o.JSON,
			Pending: func(out *runner.Outcome) string {
				return fmt.Sprintf("submitted %s job %s (eta %s); track_id %s", out.Endpoint, output.Safe(out.ID), output.FormatSeconds(out.ETA), output.Safe(out.TrackID))
			},
			Resume:     func(out *runner.Outcome) string { return resumeHint(r, j, out, dir, o.JSON) },
			Transcript: o.transcript,
			KeepFiles:  dir != "",
		})
	})
}

// runOne is the one-job path every front end shares (a job command, an
// MCP tool call): check the body, give a transcript a directory of its own
// when -o is not given (the text is read from the downloaded file), open
// the runner (API client, journal, and with --wait the receiver first),
// run j with obs, and let show print the outcome while the runner is still
// open. dir is where the files stay ("" when they go with the command).
func runOne(ctx context.Context, f *Factory, o *JobOptions, j *runner.Job, obs runner.Observer, show func(r *runner.Runner, out *runner.Outcome, err error, dir string) error) error {
	inputs, err := prepareBody(j.Endpoint, j.Body)
	if err != nil {
		return err
	}
	dir := o.OutputDir
	if o.transcript && o.Wait && dir == "" {
		tmp, err := os.MkdirTemp("", "mlab-transcript-")
		if err != nil {
			return fmt.Errorf("make a directory for the transcript: %w", err)
		}
		defer os.RemoveAll(tmp)
		o.OutputDir = tmp
		defer func() { o.OutputDir = "" }()
	}
	r, closeRunner, err := openRunner(ctx, f, o, "")
	if err != nil {
		return submitFailure(err) // the deadline may come while the receiver opens
	}
	defer closeRunner()
	j.Inputs, j.TrackID = inputs, o.TrackID
	if !o.Wait && o.Webhook != "" {
		j.Body["webhook"] = o.Webhook
	}
	out, err := r.Run(ctx, j, obs)
	return show(r, out, err, dir)
}

// noWaitNotes warns, after a submit without --wait, of what the flags
// may have led one to expect: a job in the in-process sandbox goes with
// it, and -o downloads nothing for a job that is still running.
func (o *JobOptions) noWaitNotes(f *Factory, out *runner.Outcome, ok bool) {
	switch {
	case !ok || o.Wait || out == nil:
	case o.Sandbox:
		f.IO.Warnf("job %s ran in the in-process sandbox, which ends with this command: it cannot be waited for or fetched later (for one that stays up: mlab sandbox)", output.Safe(out.ID))
	case o.OutputDir != "" && out.Status != runner.StatusSuccess:
		f.IO.Warnf("-o %s: nothing downloaded, the job is still running (add --wait, or later: mlab wait %s -o %s)", o.OutputDir, shellQuote(output.Safe(out.ID)), shellQuote(o.OutputDir))
	}
}

// addMaxDownloadFlag defines --max-download-size.
func addMaxDownloadFlag(fl *pflag.FlagSet, v *string) {
	fl.StringVar(v, "max-download-size", output.FormatBytes(output.DefaultMaxBytes), "largest output file to download, e.g. 500MB or 10GB (0 or unlimited: no limit)")
}

// checkDownloadFlags checks -o and --max-download-size before anything is
// submitted (usage errors, exit 2): a job must not be paid for when its
// files have nowhere to go.
func checkDownloadFlags(dir, size string, maxBytes *int64) error {
	if dir != "" {
		if err := runner.CheckOutputDir(dir); err != nil {
			return flagErrorf("-o: %v", err)
		}
	}
	switch strings.ToLower(strings.TrimSpace(size)) {
	case "":
		*maxBytes = 0 // the default cap
		return nil
	case "unlimited", "none":
		*maxBytes = -1
		return nil
	}
	n, err := output.ParseBytes(size)
	if err != nil {
		return flagErrorf("--max-download-size: %v", err)
	}
	if *maxBytes = n; n == 0 {
		*maxBytes = -1 // 0: no limit
	}
	return nil
}

// resumeHint names the exact command that picks a running job up again.
func resumeHint(r *runner.Runner, j *runner.Job, out *runner.Outcome, outputDir string, asJSON bool) string {
	if !r.Journaled() {
		return fmt.Sprintf("job %s (track_id %s) keeps running at ModelsLab; fetch its result with a POST to %s", output.Safe(out.ID), output.Safe(out.TrackID), output.Safe(r.FetchURL(j)))
	}
	return "it keeps running at ModelsLab; resume with: mlab wait " + shellQuote(output.Safe(out.TrackID)) + resumeFlags(outputDir, asJSON)
}

// resumeFlags are the flags a resume repeats: where the files go and the
// output format.
func resumeFlags(outputDir string, asJSON bool) string {
	s := ""
	if outputDir != "" {
		s += " -o " + shellQuote(outputDir)
	}
	if asJSON {
		s += " --json"
	}
	return s
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// exactArgs wants n positional arguments; format, given the count, says
// what the command takes (a usage error, exit 2).
func exactArgs(n int, format string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return flagErrorf(format, len(args))
		}
		return nil
	}
}

// durationValue is the pflag.Value of every duration flag: a Go duration
// with an optional leading days part (90s, 30m, 2h, 1d, 1d12h; see
// output.ParseDuration). A bare number is refused with the unit it lacks.
type durationValue struct{ v *time.Duration }

// durationFlag defines a duration flag with the default def.
func durationFlag(fl *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fl.Var(&durationValue{p}, name, usage)
}

func (d *durationValue) Set(s string) error {
	s = strings.TrimSpace(s)
	v, err := output.ParseDuration(s)
	if err == nil {
		*d.v = v
		return nil
	}
	if n, nerr := strconv.ParseFloat(s, 64); nerr == nil && n >= 0 {
		return fmt.Errorf("want a duration with a unit: did you mean %ss?", s)
	}
	if strings.HasPrefix(s, "-") {
		return errors.New("want a duration of 0 or more")
	}
	return errors.New("want a duration such as 90s, 30m, 2h or 1d")
}

func (d *durationValue) String() string {
	if d.v == nil || *d.v == 0 {
		return "0"
	}
	return d.v.String()
}

func (d *durationValue) Type() string { return "duration" }
