package output

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/mlabcli/mlab/internal/journal"
)

// Cell is one table cell: its text and the style it is rendered with (nil:
// plain). Column widths are measured on the unstyled text.
type Cell struct {
	Text  string
	Style func(...string) string
}

// WriteTable writes a bold header and rows as left-aligned columns two
// spaces apart, for people. The last column is not padded. Cell texts are
// untrusted (ids and paths from the API and the journal): they are shown
// through Safe.
func WriteTable(w io.Writer, st *Styles, header []string, rows [][]Cell) error {
	for _, r := range rows {
		for i := range r {
			r[i].Text = Safe(r[i].Text)
		}
	}
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = lipgloss.Width(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], lipgloss.Width(c.Text))
		}
	}
	var b strings.Builder
	headCells := make([]Cell, len(header))
	for i, h := range header {
		headCells[i] = Cell{Text: h, Style: st.Bold.Render}
	}
	for _, r := range append([][]Cell{headCells}, rows...) {
		for i, c := range r {
			text := c.Text
			if c.Style != nil {
				text = c.Style(text)
			}
			b.WriteString(text)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-lipgloss.Width(c.Text)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// historyHeader names the columns of the job history table.
var historyHeader = []string{"ID", "KIND", "STATUS", "SUBMITTED", "DURATION", "VIA", "FILES"}

// WriteHistoryTable writes journal entries as the job history table of
// `mlab jobs` on a terminal: one row per entry in the order given, the
// submit time as an age relative to now.
func WriteHistoryTable(w io.Writer, st *Styles, entries []journal.Entry, now time.Time) error {
	rows := make([][]Cell, 0, len(entries))
	for i := range entries {
		rows = append(rows, historyRow(st, &entries[i], now))
	}
	return WriteTable(w, st, historyHeader, rows)
}

// historyRow is one entry's cells: "kind/endpoint", the status in its
// colour, the run time of a finished job, the first file and how many more
// (or how many outputs were not downloaded).
func historyRow(st *Styles, e *journal.Entry, now time.Time) []Cell {
	kind := e.Kind
	if e.Endpoint != "" && e.Endpoint != e.Kind {
		kind = strings.Trim(e.Kind+"/"+e.Endpoint, "/")
	}
	status := Cell{Text: e.Status, Style: st.Warn.Render}
	switch e.Status {
	case journal.StatusSuccess:
		status.Style = st.Success.Render
	case journal.StatusFailed:
		status.Style = st.Error.Render
	}
	dur := "-"
	if !e.FinishedAt.IsZero() {
		dur = FormatRunTime(e.FinishedAt.Sub(e.SubmittedAt))
	}
	files := "-"
	switch {
	case len(e.Files) == 1:
		files = e.Files[0]
	case len(e.Files) > 1:
		files = fmt.Sprintf("%s (+%d)", e.Files[0], len(e.Files)-1)
	case len(e.Output) > 0:
		files = Plural(len(e.Output), "output", "outputs") + ", not downloaded"
	}
	via := e.Via
	if via == "" {
		via = "-"
	}
	return []Cell{
		{Text: e.ID, Style: st.ID.Render},
		{Text: kind},
		status,
		{Text: FormatAgo(now.Sub(e.SubmittedAt))},
		{Text: dur},
		{Text: via},
		{Text: files, Style: st.Muted.Render},
	}
}

// WriteHistoryLine writes one journal entry as the piped form of `mlab
// jobs`: tab-separated fields id, track_id, kind, endpoint, status,
// submitted_at (RFC 3339, UTC), duration (seconds), via and files
// (comma-separated). Tabs and line breaks inside a field become spaces; an
// empty field is "-".
func WriteHistoryLine(w io.Writer, e *journal.Entry) error {
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
		fields[i] = Safe(v)
	}
	_, err := fmt.Fprintln(w, strings.Join(fields, "\t"))
	return err
}
