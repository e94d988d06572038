package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/output"
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
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Batch != "" {
				opts.f.jsonErrors = opts.JSON
				return resumeBatch(cmd.Context(), opts)
			}
			return runWait(cmd.Context(), opts)
		},
	}
	addResumeFlags(cmd, opts)
	fl := cmd.Flags()
	fl.StringVarP(&opts.OutputDir, "output-dir", "o", "", "download the outputs into `DIR` and print their paths")
	fl.DurationVar(&opts.Timeout, "timeout", 30*time.Minute, "give up after this long (exit 3; the job goes on)")
	fl.DurationVar(&opts.PollInterval, "poll-interval", job.DefaultPollInterval, "first interval between polls (grows to 30s)")
	fl.StringVar(&opts.Batch, "batch", "", "resume every unfinished job of batch `BATCH_ID`")
	fl.IntVar(&opts.Concurrency, "concurrency", 50, "with --batch: jobs polled at once")
	return cmd
}

func newCmdFetch(f *Factory) *cobra.Command {
	opts := &WaitOptions{f: f}
	cmd := &cobra.Command{
		Use:   "fetch ID|TRACK_ID",
		Short: "Ask the API once for a job's current state",
		Long: `Fetch a job's current state once and print it: its output URLs when it is done
(exit 0), its message when it failed (exit 1), its id when it is still
processing (exit 0). The journal is updated when the job turns out finished.`,
		Example: `  $ mlab fetch 134701497
  $ mlab fetch 134701497 --json | jq -r .status
  $ mlab fetch F5jvdzGnYi --kind train`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return flagErrorf("mlab fetch takes one ID or TRACK_ID, got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			return runFetch(cmd.Context(), opts)
		},
	}
	addResumeFlags(cmd, opts)
	return cmd
}

// resumable is a job found in the journal (or described by flags).
type resumable struct {
	entry   journal.Entry
	ep      api.Endpoint
	journal *journal.Journal // nil when not available
}

func (o *WaitOptions) lookup() (*resumable, error) {
	jr, jerr := openHistoryJournal(o.f)
	explicit := o.Endpoint != "" || o.Kind != ""
	if jerr == nil {
		e, err := jr.Get(o.Ref)
		switch {
		case err == nil && !explicit:
			return o.fromEntry(jr, *e)
		case err != nil && !errors.Is(err, journal.ErrNotFound):
			jr.Close()
			return nil, fmt.Errorf("read the job journal: %w", err)
		}
	}
	if !explicit {
		if jr != nil {
			jr.Close()
		}
		return nil, flagErrorf("job %s is not in the journal (see 'mlab jobs'); pass --kind (%s) or --endpoint to fetch it anyway", o.Ref, strings.Join(kindNames(), ", "))
	}
	name := o.Endpoint
	if name == "" {
		if name = kindEndpoints[o.Kind]; name == "" {
			return nil, flagErrorf("--kind %q: one of %s", o.Kind, strings.Join(kindNames(), ", "))
		}
	}
	cfg, err := o.f.Config()
	if err != nil {
		return nil, err
	}
	params := map[string]string{}
	for _, p := range o.Params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, flagErrorf("-p %q: want name=value", p)
		}
		params[k] = v
	}
	e := journal.Entry{ID: o.Ref, Endpoint: name, BaseURL: cfg.BaseURL, PathParams: params, Status: journal.StatusProcessing}
	if jerr != nil {
		jr = nil
	}
	return o.fromEntry(jr, e)
}

func (o *WaitOptions) fromEntry(jr *journal.Journal, e journal.Entry) (*resumable, error) {
	ep, ok := api.Lookup(e.Endpoint)
	if !ok {
		return nil, flagErrorf("job %s was submitted to %q, which this mlab does not know", e.ID, e.Endpoint)
	}
	for _, name := range ep.PathParams() {
		if e.PathParams[name] == "" {
			return nil, flagErrorf("%s needs -p %s=...", ep.Name, name)
		}
	}
	return &resumable{entry: e, ep: ep.WithPathParams(e.PathParams), journal: jr}, nil
}

func kindNames() []string {
	var ks []string
	for k := range kindEndpoints {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// resumeSession is a poll-only session on the API the job was submitted to.
func (o *WaitOptions) resumeSession(r *resumable) (*session, error) {
	client, err := o.f.apiClientAt(r.entry.BaseURL)
	if err != nil {
		return nil, err
	}
	jo := &JobOptions{Wait: true, OutputDir: o.OutputDir, JSON: o.JSON, Timeout: o.Timeout, PollInterval: o.PollInterval}
	if jo.PollInterval <= 0 {
		jo.PollInterval = job.DefaultPollInterval
	}
	return &session{f: o.f, opts: jo, client: client, baseURL: r.entry.BaseURL, journal: r.journal}, nil
}

// open finds the job and opens a poll-only session on its API; close the
// session when done (it closes the journal too).
func (o *WaitOptions) open() (*resumable, *session, error) {
	o.f.jsonErrors = o.JSON
	r, err := o.lookup()
	if err != nil {
		return nil, nil, err
	}
	s, err := o.resumeSession(r)
	if err != nil {
		if r.journal != nil {
			r.journal.Close()
		}
		return nil, nil, err
	}
	if r.journal != nil {
		s.closers = append(s.closers, func() { r.journal.Close() })
	}
	return r, s, nil
}

func runWait(ctx context.Context, o *WaitOptions) error {
	r, s, err := o.open()
	if err != nil {
		return err
	}
	defer s.close()
	e := r.entry
	j := &oneJob{ep: r.ep, trackID: e.TrackID, pathParams: e.PathParams, fetchURL: e.FetchURL}
	res := &output.Result{ID: e.ID, TrackID: e.TrackID, Endpoint: e.Endpoint, Status: e.Status, Output: e.Output, Files: e.Files, Via: e.Via, Message: e.Message}
	ios := o.f.IO
	start := time.Now()

	var werr error
	switch e.Status {
	case journal.StatusSuccess:
		werr = s.redownload(ctx, res)
		if werr == nil {
			s.recordEnd(res)
		}
	case journal.StatusFailed:
		werr = &job.FailedError{ID: e.ID, Response: &api.Response{Message: e.Message}}
	default:
		ui := newSingleUI(o.f, r.ep)
		stand := &api.Response{ID: e.ID, FetchURL: e.FetchURL}
		if !e.SubmittedAt.IsZero() {
			ios.Infof("resuming %s job %s (submitted %s ago)", e.Endpoint, e.ID, output.FormatDuration(time.Since(e.SubmittedAt)))
		}
		ui.submitted(e.ID, 0, "; polling for the result")
		res, werr = s.wait(ctx, j, res, stand, nil, ui, start)
		ui.done()
		if res != nil {
			s.recordEnd(res)
		}
	}
	return printOutcome(o.f, s, j, res, werr, o.JSON)
}

// printOutcome prints a job's result the way job commands do and maps the
// outcome to an error (exit code).
func printOutcome(f *Factory, s *session, j *oneJob, res *output.Result, err error, asJSON bool) error {
	ios := f.IO
	if err == nil {
		return output.PrintResult(ios, res, asJSON)
	}
	if res == nil {
		return err
	}
	var (
		failed  *job.FailedError
		stopped *runner.StoppedError
	)
	switch {
	case errors.As(err, &failed):
		if asJSON {
			if perr := output.PrintResult(ios, res, true); perr != nil {
				return perr
			}
		}
		return err
	case errors.As(err, &stopped):
		if asJSON {
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

// redownload fetches the outputs of a finished job whose files are missing
// from disk (with -o: missing from that directory); without -o and with no
// files recorded there is nothing to do.
func (s *session) redownload(ctx context.Context, res *output.Result) error {
	dir := s.opts.OutputDir
	if dir == "" {
		if len(res.Files) == 0 {
			return nil
		}
		dir = dirOf(res.Files)
	}
	files := make([]string, len(res.Output))
	var missing []string
	var missingIdx []int
	for i, u := range res.Output {
		if i < len(res.Files) && filepath.Dir(res.Files[i]) == filepath.Clean(dir) {
			if _, err := os.Stat(res.Files[i]); err == nil {
				files[i] = res.Files[i]
				continue
			}
		}
		missing = append(missing, u)
		missingIdx = append(missingIdx, i)
	}
	if len(missing) > 0 {
		got, err := output.Download(ctx, s.f.IO, missing, dir, output.DownloadOptions{Progress: true})
		if err != nil {
			return &runner.DownloadError{Err: err}
		}
		for k, i := range missingIdx {
			files[i] = got[k]
		}
		s.f.IO.Infof("downloaded %d missing file(s) of job %s", len(missing), res.ID)
	}
	res.Files = files
	return nil
}

func dirOf(files []string) string {
	for _, f := range files {
		if f != "" {
			return filepath.Dir(f)
		}
	}
	return "."
}

func runFetch(ctx context.Context, o *WaitOptions) error {
	r, s, err := o.open()
	if err != nil {
		return err
	}
	defer s.close()
	e := r.entry
	resp, err := s.client.Fetch(ctx, r.ep, e.ID, e.FetchURL)
	if err != nil {
		return fmt.Errorf("fetch job %s: %w", e.ID, err)
	}
	res := &output.Result{ID: e.ID, TrackID: e.TrackID, Endpoint: e.Endpoint, Status: "processing", Message: resp.Message, Meta: resp.Meta}
	switch resp.State() {
	case api.StateSuccess:
		res.Status, res.Output, res.Via = "success", resp.Output, string(job.ViaPoll)
		if len(res.Output) == 0 {
			res.Output = resp.ProxyLinks
		}
		if r.ep.Family == api.FamilyTraining {
			res.ModelID = firstNonEmpty(resp.ModelID, e.ID)
		}
		s.recordEnd(res)
		return output.PrintResult(o.f.IO, res, o.JSON)
	case api.StateFailed:
		res.Status, res.Message = "failed", firstNonEmpty(resp.Message, resp.Stage)
		s.recordEnd(res)
		if o.JSON {
			if err := output.PrintResult(o.f.IO, res, true); err != nil {
				return err
			}
		}
		return &job.FailedError{ID: e.ID, Response: resp}
	}
	if o.JSON {
		return output.PrintResult(o.f.IO, res, true)
	}
	fmt.Fprintln(o.f.IO.Out, e.ID)
	stage := firstNonEmpty(resp.Stage, resp.Status, "processing")
	o.f.IO.Infof("job %s is still %s; wait for it with: mlab wait %s", e.ID, stage, o.Ref)
	return nil
}
