package cmd

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/spf13/cobra"
)

// The job history is the local job journal (internal/journal) as people and
// scripts see it: `mlab jobs` lists it (and --refresh asks the API about
// its unfinished jobs), `mlab jobs view` shows one job, `mlab jobs rm` and
// `mlab jobs prune` trim it, and `mlab wait` and `mlab fetch` pick its jobs
// up again.

// historyCommands returns the job-history commands (mlab jobs, wait, fetch).
func historyCommands(f *Factory) []*cobra.Command {
	cmds := []*cobra.Command{newCmdHistory(f, nil), newCmdWait(f, nil), newCmdFetch(f)}
	for _, c := range cmds[1:] {
		// wait and fetch <TAB>: the journal's jobs, newest first.
		if c.ValidArgsFunction == nil {
			c.ValidArgsFunction = completeJournalIDs(f, 1)
		}
		if fn := flagCompletion(c.Name(), "kind"); fn != nil && c.Flags().Lookup("kind") != nil {
			_ = c.RegisterFlagCompletionFunc("kind", fn)
		}
	}
	return cmds
}

// HistoryOptions are the flags of `mlab jobs`.
type HistoryOptions struct {
	f      *Factory
	Status string
	Kind   string
	Since  time.Duration // 0: no bound
	Limit  int           // 0: all
	JSON   bool
	Out    OutputFlags // --jq, --template, -q (ids only)
	// Refresh: fetch the current state of the listed jobs that are still
	// processing (submitted without --wait, or abandoned), once each.
	Refresh bool

	limitSet bool // --limit was given: no "showing the N newest" note
	now      func() time.Time
}

// HistoryPruneOptions are the flags of `mlab jobs prune`.
type HistoryPruneOptions struct {
	f         *Factory
	OlderThan time.Duration
	JSON      bool

	now func() time.Time
}

var historyStatuses = []string{journal.StatusSubmitting, journal.StatusProcessing, journal.StatusSuccess, journal.StatusFailed}

func newCmdHistory(f *Factory, runF func(context.Context, *HistoryOptions) error) *cobra.Command {
	opts := &HistoryOptions{f: f, now: time.Now}
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List the jobs mlab has submitted (the local job journal)",
		Long: `List the jobs mlab has submitted, newest first, from the local job journal.

Every job is written to the journal right after it is submitted, before any
waiting, and updated when it ends, so an interrupted, timed-out or killed run
never loses a paid job: find it here and pick it up with 'mlab wait ID'.

On a terminal the history is a table. Piped, it is one line per job with
tab-separated fields:

  id  track_id  kind  endpoint  status  submitted_at  duration  via  files

(times in RFC 3339, UTC; the duration in seconds; files comma-separated; "-"
for an empty field). With --json it is one JSON object per line, newest first
(--jq and --template filter each); -q prints the ids alone.

--refresh first asks the API once about each listed job that is still
processing (jobs submitted without --wait, waits that were given up) and
writes what it says into the journal.

The journal lives in $MLAB_STATE_DIR, else $XDG_STATE_HOME/mlab, else
~/.local/state/mlab (macOS and Windows: your user config dir + /mlab/state).
'mlab jobs prune' removes old finished jobs from it.`,
		Example: `  # the last 20 jobs
  $ mlab jobs

  # jobs still running (or abandoned) in the last two days
  $ mlab jobs --status processing --since 2d

  # every failed video job, as JSON lines
  $ mlab jobs --kind video --status failed --limit 0 --json | jq -r .message

  # resume the newest unfinished job
  $ mlab wait "$(mlab jobs --status processing --limit 1 -q)"

  # ask the API where the unfinished jobs stand
  $ mlab jobs --status processing --refresh

  # one job in full; forget another
  $ mlab jobs view 134701497
  $ mlab jobs rm 134701497`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Status != "" && !slices.Contains(historyStatuses, opts.Status) {
				return unknownValue("--status", opts.Status, historyStatuses, "")
			}
			if opts.Kind != "" && !slices.Contains(journalKinds, opts.Kind) {
				return unknownValue("--kind", opts.Kind, journalKinds, "")
			}
			if opts.Limit < 0 {
				return flagErrorf("--limit must be 0 (all) or more")
			}
			if cmd.Flags().Changed("since") && opts.Since <= 0 {
				return flagErrorf("--since must be positive")
			}
			opts.limitSet = cmd.Flags().Changed("limit")
			if err := applyOutputFlags(f, cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runHistory(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Status, "status", "", "only jobs with this `STATUS`: submitting (sent, no answer: may have been paid), processing, success or failed")
	fl.StringVar(&opts.Kind, "kind", "", "only jobs of this `KIND`: img, video, audio, 3d, train, workflow, edit")
	durationFlag(fl, &opts.Since, "since", 0, "only jobs submitted in the last `DUR` (e.g. 90m, 24h, 7d)")
	fl.IntVarP(&opts.Limit, "limit", "L", 20, "show at most `N` jobs (0: all)")
	fl.BoolVar(&opts.JSON, "json", false, "print one JSON object per job")
	addFilterFlags(fl, &opts.Out)
	addQuietFlag(fl, &opts.Out, "print only the job ids, one per line (a job never submitted: its track_id)")
	fl.BoolVar(&opts.Refresh, "refresh", false, "first ask the API once about each listed job still processing, and update the journal")
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(historyStatuses, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(journalKinds, cobra.ShellCompDirectiveNoFileComp))
	cmd.AddCommand(newCmdHistoryPrune(f, nil), newCmdHistoryView(f), newCmdHistoryRm(f))
	return cmd
}

// journalKinds are the kinds journal entries have (--kind of mlab jobs).
var journalKinds = []string{"img", "video", "audio", "3d", "train", "workflow", "edit", "faceswap", "interior"}

func newCmdHistoryPrune(f *Factory, runF func(context.Context, *HistoryPruneOptions) error) *cobra.Command {
	opts := &HistoryPruneOptions{f: f, now: time.Now}
	cmd := &cobra.Command{
		Use:   "prune --older-than DUR",
		Short: "Remove finished jobs older than a duration from the journal",
		Long: `Remove from the journal the finished jobs (success or failed) submitted more
than DUR ago, and compact the journal file. Jobs still marked processing are
kept whatever their age: they may still be waited for with 'mlab wait'.
Downloaded files are not touched.

DUR is a Go duration with an optional leading days part: 30d, 7d, 1d12h,
36h, 90m. 0s removes every finished job.`,
		Example: `  $ mlab jobs prune --older-than 30d
  $ mlab jobs prune --older-than 0s --json   # {"removed":N}`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("older-than") {
				return flagErrorf("--older-than is required (e.g. --older-than 30d)")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runHistoryPrune(cmd.Context(), opts)
		},
	}
	durationFlag(cmd.Flags(), &opts.OlderThan, "older-than", 0, "remove finished jobs submitted more than `DUR` ago (e.g. 7d, 24h)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, `print {"removed":N} on stdout`)
	return cmd
}

// openHistoryJournal opens the journal in the state directory; a directory
// that cannot be used is a configuration error.
func openHistoryJournal(f *Factory) (*journal.Journal, error) {
	dir, err := journal.DefaultDir(f.Getenv)
	var j *journal.Journal
	if err == nil {
		j, err = journal.Open(dir)
	}
	if err != nil {
		return nil, &ConfigError{Msg: err.Error(), Hint: "set " + journal.EnvStateDir + " to a writable directory"}
	}
	return j, nil
}

func runHistory(ctx context.Context, opts *HistoryOptions) error {
	ios := opts.f.IO
	// The journal keeps what the API said, which may echo the key: know
	// the key (a broken config is no reason not to list) so that it is
	// redacted from everything printed.
	_, _ = opts.f.Config()
	j, err := openHistoryJournal(opts.f)
	if err != nil {
		return err
	}
	defer j.Close()
	now := opts.now()
	table := !opts.JSON && !opts.Out.Quiet && ios.IsStdoutTTY()
	filter := opts.filter(now, table)
	entries, err := j.List(filter)
	if err != nil {
		return err
	}
	if opts.Refresh {
		if refreshJobs(ctx, opts.f, j, entries) > 0 {
			// What the API said may change what matches (--status).
			if entries, err = j.List(filter); err != nil {
				return err
			}
		}
	}
	more := false
	if opts.Limit > 0 && len(entries) > opts.Limit {
		entries, more = entries[:opts.Limit], true
	}
	if table && len(entries) == 0 {
		what := "no jobs in the journal yet"
		if filter.Status != "" || filter.Kind != "" || !filter.Since.IsZero() {
			what = "no jobs match"
		}
		ios.Infof("%s (%s)", what, j.Path())
		return nil
	}
	if err := writeHistory(opts, entries, table, now); err != nil {
		return err
	}
	if more && !opts.limitSet && !opts.Out.Quiet {
		ios.Infof("%s", ios.Styles().Muted.Render(fmt.Sprintf("showing the %d newest; --limit 0 shows all", opts.Limit)))
	}
	return nil
}

// filter is the journal query of the flags. A table asks for one entry
// more than --limit, to say whether there are more.
func (opts *HistoryOptions) filter(now time.Time, table bool) journal.Filter {
	filter := journal.Filter{Status: opts.Status, Kind: opts.Kind}
	if opts.Since > 0 {
		filter.Since = now.Add(-opts.Since)
	}
	if opts.Limit > 0 {
		filter.Limit = opts.Limit
		if table {
			filter.Limit++
		}
	}
	return filter
}

// writeHistory prints the entries on stdout: JSON lines (through --jq or
// --template), ids (-q), the table for a terminal, or tab-separated lines.
func writeHistory(opts *HistoryOptions, entries []journal.Entry, table bool, now time.Time) error {
	f := opts.f
	ios := f.IO
	var buf bytes.Buffer
	switch {
	case opts.JSON && opts.Out.filter != nil:
		for i := range entries {
			if err := f.printJSONValue(&entries[i], "job "+output.Safe(entryRef(&entries[i]))+"'s journal entry"); err != nil {
				return err
			}
		}
		return nil
	case opts.JSON:
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for i := range entries {
			if err := enc.Encode(&entries[i]); err != nil {
				return fmt.Errorf("encode job %s: %w", entries[i].ID, err)
			}
		}
	case opts.Out.Quiet:
		for i := range entries {
			fmt.Fprintln(&buf, output.Safe(entryRef(&entries[i])))
		}
	case table:
		if err := output.WriteHistoryTableFit(&buf, ios.Styles(), entries, now, ios.TerminalWidth()); err != nil {
			return err
		}
	default:
		for i := range entries {
			if err := output.WriteHistoryLine(&buf, &entries[i]); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(ios.Out, f.redact(buf.String()))
	return err
}

// entryRef is how a journalled job is named: its id, or the track_id of
// a submit that never got an answer.
func entryRef(e *journal.Entry) string { return cmp.Or(e.ID, e.TrackID) }

func runHistoryPrune(ctx context.Context, opts *HistoryPruneOptions) error {
	cutoff := opts.now().Add(-opts.OlderThan)
	j, err := openHistoryJournal(opts.f)
	if err != nil {
		return err
	}
	defer j.Close()
	n, err := j.Prune(cutoff)
	if err != nil {
		return err
	}
	ios := opts.f.IO
	if opts.JSON {
		_, err := fmt.Fprintf(ios.Out, "{\"removed\":%d}\n", n)
		return err
	}
	ios.Successf("removed %d finished %s submitted before %s", n, output.Noun(n, "job", "jobs"), cutoff.Local().Format("2006-01-02 15:04"))
	return nil
}
