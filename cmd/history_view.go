package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/spf13/cobra"
)

// mlab jobs view, mlab jobs rm and mlab jobs --refresh.

// HistoryViewOptions are the flags of `mlab jobs view`.
type HistoryViewOptions struct {
	f    *Factory
	Ref  string
	JSON bool
	Out  OutputFlags // --jq, --template
	now  func() time.Time
}

func newCmdHistoryView(f *Factory) *cobra.Command {
	opts := &HistoryViewOptions{f: f, now: time.Now}
	cmd := &cobra.Command{
		Use:   "view ID|TRACK_ID",
		Short: "Show one job of the journal: request, status, outputs, files, timings",
		Long: `Show everything the journal knows of one job: the endpoint it was submitted
to and the request (the key never), its prompt, status and message, its
output URLs and downloaded files (a file no longer on disk says so), and when
it was submitted and ended. With --json it is the job's journal entry, the
same object 'mlab jobs --json' prints.`,
		Example: `  $ mlab jobs view 134701497
  $ mlab jobs view mlab-63a3f91ada59a8af --json
  $ mlab jobs view 134701497 --jq '.output[]'`,
		Args:              exactArgs(1, "mlab jobs view takes one ID or TRACK_ID (see 'mlab jobs'), got %d"),
		ValidArgsFunction: completeJournalIDs(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if err := applyOutputFlags(f, cmd); err != nil {
				return err
			}
			return runHistoryView(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the job's journal entry as one JSON object")
	addFilterFlags(cmd.Flags(), &opts.Out)
	return cmd
}

// getEntry finds a job in the journal; one that is not there is a usage
// error that says where to look.
func getEntry(j *journal.Journal, ref string) (*journal.Entry, error) {
	e, err := j.Get(ref)
	switch {
	case errors.Is(err, journal.ErrNotFound):
		return nil, flagErrorf("job %s is not in the journal (see 'mlab jobs')", output.Safe(ref))
	case err != nil:
		return nil, fmt.Errorf("read the job journal: %w", err)
	}
	return e, nil
}

func runHistoryView(opts *HistoryViewOptions) error {
	_, _ = opts.f.Config() // know the key, to redact what the API echoed
	f := opts.f
	j, err := openHistoryJournal(f)
	if err != nil {
		return err
	}
	defer j.Close()
	e, err := getEntry(j, opts.Ref)
	if err != nil {
		return err
	}
	if opts.JSON {
		return f.printJSONValue(e, "job "+output.Safe(entryRef(e))+"'s journal entry")
	}
	var buf strings.Builder
	if err := describeEntry(&buf, e, opts.now()); err != nil {
		return err
	}
	_, err = io.WriteString(f.IO.Out, f.redact(buf.String()))
	return err
}

// describeEntry is the human view of one journalled job (see
// output.WriteJobDetail), with its endpoint line: the catalogue name, the
// kind and the URL it was submitted to.
func describeEntry(w io.Writer, e *journal.Entry, now time.Time) error {
	endpoint := output.Safe(e.Endpoint)
	if e.Kind != "" && e.Kind != e.Endpoint {
		endpoint += " (" + output.Safe(e.Kind) + ")"
	}
	if ep, ok := api.Lookup(e.Endpoint); ok {
		if p, err := withPathParams(ep, e.PathParams); err == nil {
			ep = p
		}
		base, inProcess := strings.CutPrefix(strings.TrimRight(e.BaseURL, "/"), "sandbox+")
		endpoint += " · POST " + output.Safe(base+ep.SubmitPath)
		if inProcess {
			endpoint += " (an in-process sandbox, gone)"
		}
	}
	return output.WriteJobDetail(w, e, endpoint, now)
}

// HistoryRmOptions are the flags of `mlab jobs rm`.
type HistoryRmOptions struct {
	f     *Factory
	Refs  []string
	Force bool
	JSON  bool
}

func newCmdHistoryRm(f *Factory) *cobra.Command {
	opts := &HistoryRmOptions{f: f}
	cmd := &cobra.Command{
		Use:   "rm ID|TRACK_ID...",
		Short: "Remove jobs from the journal",
		Long: `Remove jobs from the local journal (downloaded files are not touched). A job
that is not known to be finished (processing, or a submit that got no answer)
is refused unless --force: it may still be running, and paid for, at
ModelsLab; once removed, 'mlab wait' no longer finds it. Every job named must
be in the journal, or nothing is removed.`,
		Example: `  $ mlab jobs rm 134701497
  $ mlab jobs rm 134701497 134701498 --json   # {"removed":2}
  $ mlab jobs rm mlab-63a3f91ada59a8af --force`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return flagErrorf("mlab jobs rm takes one or more IDs or TRACK_IDs (see 'mlab jobs')")
			}
			return nil
		},
		ValidArgsFunction: completeJournalIDs(f, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Refs = args
			return runHistoryRm(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "remove jobs that may still be running too")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, `print {"removed":N} on stdout`)
	return cmd
}

func runHistoryRm(opts *HistoryRmOptions) error {
	f := opts.f
	j, err := openHistoryJournal(f)
	if err != nil {
		return err
	}
	defer j.Close()
	var entries []journal.Entry
	var running []string
	seen := map[string]bool{}
	for _, ref := range opts.Refs {
		e, err := getEntry(j, ref)
		if err != nil {
			return err
		}
		if key := e.ID + "\x00" + e.TrackID; !seen[key] {
			seen[key] = true
			entries = append(entries, *e)
		}
		if !e.Finished() {
			running = append(running, output.Safe(entryRef(e))+" ("+output.Safe(e.Status)+")")
		}
	}
	if len(running) > 0 && !opts.Force {
		return &ExitError{
			Err:  &FlagError{Err: fmt.Errorf("%s may still be running at ModelsLab: %s", output.Plural(len(running), "job", "jobs"), strings.Join(running, ", "))},
			Hint: "wait for it with 'mlab wait ID', or remove it anyway with --force (mlab forgets it; ModelsLab does not)",
			Code: ExitUsage,
		}
	}
	n, err := j.Remove(entries...)
	if err != nil {
		return err
	}
	if opts.JSON {
		_, err := fmt.Fprintf(f.IO.Out, "{\"removed\":%d}\n", n)
		return err
	}
	f.IO.Successf("removed %s from the journal", output.Plural(n, "job", "jobs"))
	return nil
}

// maxRefresh bounds the jobs one --refresh asks about.
const maxRefresh = 100

// refreshTimeout bounds one --refresh in all.
const refreshTimeout = time.Minute

// refreshJobs asks the API once about each of the entries that is still
// processing, through the runner's fetch path (which writes a finished
// job's end into the journal j), and says on stderr what it found. It
// returns how many ended.
func refreshJobs(ctx context.Context, f *Factory, j *journal.Journal, entries []journal.Entry) int {
	var todo []journal.Entry
	for _, e := range entries {
		if e.Status == journal.StatusProcessing && e.ID != "" {
			todo = append(todo, e)
		}
	}
	if len(todo) == 0 {
		return 0
	}
	if len(todo) > maxRefresh {
		f.IO.Warnf("--refresh: asking about the %d newest of %d unfinished jobs", maxRefresh, len(todo))
		todo = todo[:maxRefresh]
	}
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	jo := &JobOptions{Timeout: refreshTimeout, PollInterval: job.DefaultPollInterval, ProbeRate: -1}
	ended, still := 0, 0
	for _, e := range todo {
		if ctx.Err() != nil {
			f.IO.Warnf("--refresh: stopped before job %s: %v", output.Safe(e.ID), ctx.Err())
			break
		}
		ep, err := journalEndpoint(e.ID, e.Endpoint, e.PathParams)
		if err == nil {
			var r *runner.Runner
			if r, err = resumeRunner(f, jo, e.BaseURL, false, j, ""); err == nil {
				var o *runner.Outcome
				o, err = r.Fetch(ctx, runner.Resumed(ep, e), runner.NopObserver{})
				var failed *runner.FailedError
				switch {
				case err == nil && o.Status == runner.StatusProcessing:
					still++
					continue
				case err == nil, errors.As(err, &failed):
					ended++
					continue
				}
			}
		}
		f.IO.Warnf("--refresh: job %s: %s", output.Safe(e.ID), output.Safe(f.redact(err.Error())))
	}
	if !f.outputFlags().quiet() {
		f.IO.Infof("refreshed %s: %d ended, %d still processing", output.Plural(ended+still, "job", "jobs"), ended, still)
	}
	return ended
}
