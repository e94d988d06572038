package output

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/mlabcli/mlab/internal/journal"
)

// How `mlab jobs` fits its table to the terminal (a prompt column last) and
// how `mlab jobs view` shows one job.

// promptFields are the request fields that say what a job was asked for,
// in the order they are looked for.
var promptFields = []string{"prompt", "text", "lyrics", "instance_prompt", "object_name"}

// PromptOf is the prompt a journalled job was submitted with ("" when
// none).
func PromptOf(e *journal.Entry) string {
	for _, k := range promptFields {
		if s, ok := e.Request[k].(string); ok && strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// PromptOrMessage is what the prompt column shows: a failed job's
// message (why it failed), else the prompt, else the API's message.
func PromptOrMessage(e *journal.Entry) string {
	if e.Status == journal.StatusFailed && e.Message != "" {
		return e.Message
	}
	return cmp.Or(PromptOf(e), e.Message)
}

// minPromptColumn is the narrowest prompt column worth showing.
const minPromptColumn = 12

// WriteHistoryTableFit writes the job history table of [WriteHistoryTable]
// with a PROMPT column last (see [PromptOrMessage]), cut to what the
// other columns leave of width, so that no row wraps because of it; with
// less than a few columns left there is no prompt column.
func WriteHistoryTableFit(w io.Writer, st *Styles, entries []journal.Entry, now time.Time, width int) error {
	rows := make([][]Cell, 0, len(entries))
	widths := make([]int, len(historyHeader))
	for i, h := range historyHeader {
		widths[i] = ansi.StringWidth(h)
	}
	for i := range entries {
		r := historyRow(st, &entries[i], now)
		if r[0].Text == "" {
			r[0].Text = "-" // a submit that got no answer has no id
		}
		for c := range widths {
			widths[c] = max(widths[c], ansi.StringWidth(Safe(r[c].Text)))
		}
		rows = append(rows, r)
	}
	room := width
	for _, wd := range widths {
		room -= wd + 2
	}
	if room < minPromptColumn {
		return WriteTable(w, st, historyHeader, rows)
	}
	for i := range rows {
		text := Safe(strings.Join(strings.Fields(PromptOrMessage(&entries[i])), " "))
		rows[i] = append(rows[i], Cell{Text: ansi.Truncate(text, room, "…"), Style: st.Muted.Render})
	}
	return WriteTable(w, st, append(append([]string(nil), historyHeader...), "PROMPT"), rows)
}

// WriteJobDetail writes one journalled job for `mlab jobs view`: "name
// value" lines, every untrusted text made terminal-safe. endpoint is the
// endpoint line (the catalogue name, kind and submit URL, as cmd knows
// them). A file that is no longer on disk is marked missing.
func WriteJobDetail(w io.Writer, e *journal.Entry, endpoint string, now time.Time) error {
	var b strings.Builder
	line := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-10s %s\n", name, value)
		}
	}
	list := func(name string, values []string, files bool) {
		for i, v := range values {
			if i > 0 {
				name = ""
			}
			text := Safe(v)
			if _, err := os.Stat(v); files && err != nil {
				text += " (missing)"
			}
			fmt.Fprintf(&b, "%-10s %s\n", name, text)
		}
	}
	line("id", Safe(cmp.Or(e.ID, "- (no answer to the submit: it may have been paid for)")))
	line("track_id", Safe(e.TrackID))
	line("endpoint", endpoint)
	line("status", Safe(e.Status))
	line("prompt", Safe(PromptOf(e)))
	line("message", Safe(e.Message))
	if e.BatchID != "" {
		line("batch", fmt.Sprintf("%s line %d", Safe(e.BatchID), e.Line))
	}
	line("via", Safe(e.Via))
	list("outputs", e.Output, false)
	list("files", e.Files, true)
	writeJobTimes(line, e, now)
	if len(e.Request) > 0 {
		if req, err := compactJSON(e.Request); err == nil {
			line("request", Safe(req))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeJobTimes adds the submitted, ended and elapsed lines.
func writeJobTimes(line func(name, value string), e *journal.Entry, now time.Time) {
	if !e.SubmittedAt.IsZero() {
		line("submitted", e.SubmittedAt.Local().Format("2006-01-02 15:04:05")+" ("+FormatAgo(now.Sub(e.SubmittedAt))+")")
	}
	switch {
	case !e.FinishedAt.IsZero():
		line("ended", e.FinishedAt.Local().Format("2006-01-02 15:04:05"))
		line("elapsed", FormatRunTime(e.FinishedAt.Sub(e.SubmittedAt)))
	case !e.Finished() && !e.SubmittedAt.IsZero():
		ref := cmp.Or(e.ID, e.TrackID)
		line("elapsed", FormatRunTime(now.Sub(e.SubmittedAt))+" so far (not known to be finished: mlab wait "+Safe(ref)+")")
	}
}

// compactJSON is v as one line of JSON, without HTML escapes.
func compactJSON(v any) (string, error) {
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}
