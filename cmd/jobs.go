package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/spf13/cobra"
)

// historyCommands returns the job-history commands (mlab jobs).
func historyCommands(f *Factory) []*cobra.Command {
	return []*cobra.Command{newCmdJobs(f, nil), newCmdWait(f, nil), newCmdFetch(f)}
}

// JobsOptions are the flags of `mlab jobs`.
type JobsOptions struct {
	f      *Factory
	Status string
	Kind   string
	Since  time.Duration // 0: no bound
	Limit  int           // 0: all
	JSON   bool

	now func() time.Time
}

// JobsPruneOptions are the flags of `mlab jobs prune`.
type JobsPruneOptions struct {
	f         *Factory
	OlderThan time.Duration
	JSON      bool

	now func() time.Time
}

var historyStatuses = []string{journal.StatusProcessing, journal.StatusSuccess, journal.StatusFailed}

func newCmdJobs(f *Factory, runF func(context.Context, *JobsOptions) error) *cobra.Command {
	opts := &JobsOptions{f: f, now: time.Now}
	var since string
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
for an empty field). With --json it is one JSON object per line, newest first.

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
  $ mlab wait "$(mlab jobs --status processing --limit 1 | cut -f1)"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Status != "" && !slices.Contains(historyStatuses, opts.Status) {
				return flagErrorf("--status %q: want one of %s", opts.Status, strings.Join(historyStatuses, ", "))
			}
			if opts.Limit < 0 {
				return flagErrorf("--limit must be 0 (all) or more")
			}
			if since != "" {
				d, err := parseHistoryDuration(since)
				if err != nil {
					return flagErrorf("--since: %v", err)
				}
				if d <= 0 {
					return flagErrorf("--since must be positive")
				}
				opts.Since = d
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runJobs(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Status, "status", "", "only jobs with this `STATUS`: processing, success or failed")
	fl.StringVar(&opts.Kind, "kind", "", "only jobs of this `KIND`: img, video, audio, 3d, train, workflow, edit")
	fl.StringVar(&since, "since", "", "only jobs submitted in the last `DUR` (e.g. 90m, 24h, 7d)")
	fl.IntVarP(&opts.Limit, "limit", "L", 20, "show at most `N` jobs (0: all)")
	fl.BoolVar(&opts.JSON, "json", false, "print one JSON object per job")
	cmd.AddCommand(newCmdJobsPrune(f, nil))
	return cmd
}

func newCmdJobsPrune(f *Factory, runF func(context.Context, *JobsPruneOptions) error) *cobra.Command {
	opts := &JobsPruneOptions{f: f, now: time.Now}
	var olderThan string
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
			if olderThan == "" {
				return flagErrorf("--older-than is required (e.g. --older-than 30d)")
			}
			d, err := parseHistoryDuration(olderThan)
			if err != nil {
				return flagErrorf("--older-than: %v", err)
			}
			opts.OlderThan = d
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runJobsPrune(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "remove finished jobs submitted more than `DUR` ago (e.g. 7d, 24h)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, `print {"removed":N} on stdout`)
	return cmd
}

// openHistoryJournal opens the journal in the state directory.
func openHistoryJournal(f *Factory) (*journal.Journal, error) {
	dir, err := journal.DefaultDir(f.Getenv)
	if err != nil {
		return nil, &ConfigError{Msg: err.Error(), Hint: "set " + journal.EnvStateDir + " to a writable directory"}
	}
	j, err := journal.Open(dir)
	if err != nil {
		return nil, &ConfigError{Msg: err.Error(), Hint: "set " + journal.EnvStateDir + " to a writable directory"}
	}
	return j, nil
}

func runJobs(ctx context.Context, opts *JobsOptions) error {
	ios := opts.f.IO
	j, err := openHistoryJournal(opts.f)
	if err != nil {
		return err
	}
	defer j.Close()
	now := opts.now()
	filter := journal.Filter{Status: opts.Status, Kind: opts.Kind}
	if opts.Since > 0 {
		filter.Since = now.Add(-opts.Since)
	}
	table := !opts.JSON && ios.IsStdoutTTY()
	if opts.Limit > 0 {
		filter.Limit = opts.Limit
		if table {
			filter.Limit++ // to say whether there are more
		}
	}
	entries, err := j.List(filter)
	if err != nil {
		return err
	}
	more := false
	if opts.Limit > 0 && len(entries) > opts.Limit {
		entries, more = entries[:opts.Limit], true
	}

	var buf bytes.Buffer
	switch {
	case opts.JSON:
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for i := range entries {
			if err := enc.Encode(&entries[i]); err != nil {
				return fmt.Errorf("encode job %s: %w", entries[i].ID, err)
			}
		}
	case table:
		if len(entries) == 0 {
			what := "no jobs in the journal yet"
			if filter.Status != "" || filter.Kind != "" || !filter.Since.IsZero() {
				what = "no jobs match"
			}
			ios.Infof("%s (%s)", what, j.Path())
			return nil
		}
		writeHistoryTable(&buf, opts.f, entries, now)
	default:
		for i := range entries {
			writeHistoryLine(&buf, &entries[i])
		}
	}
	if _, err := ios.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	if more {
		ios.Infof("%s", ios.Styles().Muted.Render(fmt.Sprintf("showing the %d newest; --limit 0 shows all", opts.Limit)))
	}
	return nil
}

func runJobsPrune(ctx context.Context, opts *JobsPruneOptions) error {
	ios := opts.f.IO
	j, err := openHistoryJournal(opts.f)
	if err != nil {
		return err
	}
	defer j.Close()
	cutoff := opts.now().Add(-opts.OlderThan)
	n, err := j.Prune(cutoff)
	if err != nil {
		return err
	}
	if opts.JSON {
		_, err := fmt.Fprintf(ios.Out, "{\"removed\":%d}\n", n)
		return err
	}
	ios.Successf("removed %d finished %s submitted before %s", n, historyPlural(n, "job", "jobs"), cutoff.Local().Format("2006-01-02 15:04"))
	return nil
}

// writeHistoryLine writes one job as tab-separated fields (see the help).
func writeHistoryLine(w io.Writer, e *journal.Entry) {
	dur := "-"
	if !e.FinishedAt.IsZero() {
		dur = strconv.FormatFloat(math.Round(e.FinishedAt.Sub(e.SubmittedAt).Seconds()*1000)/1000, 'f', -1, 64)
	}
	fields := []string{
		e.ID, e.TrackID, e.Kind, e.Endpoint, e.Status,
		e.SubmittedAt.UTC().Format(time.RFC3339), dur, e.Via, strings.Join(e.Files, ","),
	}
	for i, v := range fields {
		v = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, v)
		if v == "" {
			v = "-"
		}
		fields[i] = v
	}
	fmt.Fprintln(w, strings.Join(fields, "\t"))
}

// writeHistoryTable writes the jobs as an aligned table for people.
func writeHistoryTable(w io.Writer, f *Factory, entries []journal.Entry, now time.Time) {
	st := f.IO.Styles()
	type cell struct {
		text  string
		style func(...string) string
	}
	plain := func(s string) cell { return cell{text: s} }
	header := []string{"ID", "KIND", "STATUS", "SUBMITTED", "DURATION", "VIA", "FILES"}
	rows := make([][]cell, 0, len(entries))
	for _, e := range entries {
		kind := e.Kind
		if e.Endpoint != "" && e.Endpoint != e.Kind {
			kind = strings.Trim(e.Kind+"/"+e.Endpoint, "/")
		}
		status := cell{text: e.Status}
		switch e.Status {
		case journal.StatusSuccess:
			status.style = st.Success.Render
		case journal.StatusFailed:
			status.style = st.Error.Render
		default:
			status.style = st.Warn.Render
		}
		dur := "-"
		if !e.FinishedAt.IsZero() {
			dur = historyDuration(e.FinishedAt.Sub(e.SubmittedAt))
		}
		files := "-"
		switch {
		case len(e.Files) == 1:
			files = e.Files[0]
		case len(e.Files) > 1:
			files = fmt.Sprintf("%s (+%d)", e.Files[0], len(e.Files)-1)
		case len(e.Output) > 0:
			files = historyPlural(len(e.Output), "1 output", strconv.Itoa(len(e.Output))+" outputs") + ", not downloaded"
		}
		rows = append(rows, []cell{
			{text: e.ID, style: st.ID.Render},
			plain(kind),
			status,
			plain(historyAgo(now.Sub(e.SubmittedAt))),
			plain(dur),
			plain(firstNonEmpty(e.Via, "-")),
			{text: files, style: st.Muted.Render},
		})
	}
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = lipgloss.Width(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], lipgloss.Width(c.text))
		}
	}
	var b strings.Builder
	for i, h := range header {
		if i == len(header)-1 {
			b.WriteString(st.Bold.Render(h))
			break
		}
		b.WriteString(st.Bold.Render(h) + strings.Repeat(" ", widths[i]-lipgloss.Width(h)+2))
	}
	b.WriteByte('\n')
	for _, r := range rows {
		for i, c := range r {
			text := c.text
			if c.style != nil {
				text = c.style(text)
			}
			b.WriteString(text)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-lipgloss.Width(c.text)+2))
			}
		}
		b.WriteByte('\n')
	}
	io.WriteString(w, b.String())
}

// historyAgo says how long ago, coarsely: "just now", "42s ago", "5m ago",
// "3h ago", "12d ago".
func historyAgo(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

// historyDuration formats a job's run time: "850ms", "12s", "4m05s",
// "1h04m".
func historyDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// parseHistoryDuration parses a Go duration with an optional leading days
// part: "7d", "1.5d", "1d12h", "36h", "90m", "0s".
func parseHistoryDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		days, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || days < 0 || math.IsNaN(days) || s[0] == '+' || strings.ContainsAny(s[:i], "eExXpP_") {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 7d, 24h, 1d12h)", s)
		}
		if days > 100*365 {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total = time.Duration(days * float64(24*time.Hour))
		rest = s[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil || (total > 0 && strings.HasPrefix(rest, "-")) || (total > 0 && strings.HasPrefix(rest, "+")) {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 7d, 24h, 1d12h)", s)
		}
		total += d
	}
	if total < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return total, nil
}

func historyPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
