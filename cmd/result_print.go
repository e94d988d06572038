package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/mlabcli/mlab/internal/jsonfilter"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
)

// How a job's outcome is printed on stdout: the result (human or JSON),
// a failed or stopped job, files that did not all arrive, a transcript.

// result is the one mapping of a runner outcome onto the printed result:
// the API's meta and message with every known secret redacted (the API
// echoes requests, keys included), and only the files that arrived.
func (f *Factory) result(o *runner.Outcome) *output.Result {
	var files []string
	for _, p := range o.Files {
		if p != "" {
			files = append(files, p)
		}
	}
	var meta json.RawMessage
	if len(o.Meta) > 0 {
		meta = json.RawMessage(f.redact(string(o.Meta)))
	}
	return &output.Result{
		ID: o.ID, TrackID: o.TrackID, Endpoint: o.Endpoint, Status: string(o.Status),
		Output: o.Output, Files: files, Via: string(o.Via), ETA: o.ETA,
		ElapsedMS: o.Elapsed.Milliseconds(), Message: f.redact(o.Message), Meta: meta,
		ModelID: o.ModelID, BatchID: o.BatchID, Line: o.Line,
	}
}

// printResult prints one job's result: JSON (with an "error" member when
// errText is set: the job is done but not all of it arrived) through the
// running command's --jq or --template, or for people, its untrusted texts
// made terminal-safe (with -q: only its paths, URLs or id).
func (f *Factory) printResult(res *output.Result, asJSON bool, errText string) error {
	out := f.outputFlags()
	if !asJSON {
		h := *res
		h.ID, h.Message, h.ModelID = output.Safe(h.ID), output.Safe(h.Message), output.Safe(h.ModelID)
		h.Output = safeAll(h.Output)
		if out.quiet() {
			return output.PrintQuiet(f.IO.Out, &h)
		}
		return output.PrintResult(f.IO, &h, false)
	}
	if errText == "" && out.jsonFilter() == nil {
		return output.PrintResult(f.IO, res, true)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	doc := buf.Bytes()
	if errText != "" {
		if err := enc.Encode(errText); err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		// Two lines, the object and the error's text: one object of both.
		obj, text, _ := bytes.Cut(bytes.TrimRight(buf.Bytes(), "\n"), []byte("\n"))
		doc = fmt.Appendf(nil, "%s,\"error\":%s}\n", bytes.TrimSuffix(obj, []byte("}")), text)
	}
	what := "the result"
	if res.ID != "" {
		what = "the result of job " + output.Safe(res.ID) + " (see it with: mlab jobs view " + shellQuote(output.Safe(res.ID)) + " --json)"
	}
	return f.writeJSON(doc, what)
}

// writeJSON writes one JSON document (one line) on stdout, through the
// running command's --jq or --template when there is one. A filter that
// fails on it is reported here, naming what was being printed, and exits
// 4 (see FilterError): callers that go on (a batch) still show it.
func (f *Factory) writeJSON(doc []byte, what string) error {
	jf := f.outputFlags().jsonFilter()
	if jf == nil {
		_, err := f.IO.Out.Write(doc)
		return err
	}
	err := jf.Apply(context.Background(), f.IO.Out, doc, f.IO.IsStdoutTTY())
	var fe *FilterError
	if !errors.As(err, &fe) {
		return err
	}
	hint := "try the filter on the plain output: the same command with --json, piped to jq"
	if what != "" {
		hint = "it failed on " + what
	}
	output.PrintError(f.IO, errors.New(f.redact(err.Error())), f.redact(hint), ExitAPI, f.jsonErrors)
	return quietExit(ExitAPI, err)
}

// printJSONValue writes v as one compact JSON line on stdout through the
// running command's filter (commands that print JSON lines of their own:
// jobs, models, listen).
func (f *Factory) printJSONValue(v any, what string) error {
	doc, err := jsonfilter.MarshalCompact(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	// What the API said (a message, meta) may echo the key.
	return f.writeJSON([]byte(f.redact(string(doc))), what)
}

// writeJSONLines writes JSON lines (one document per line, as a command
// encoded them) on stdout, each through the running command's filter.
func (f *Factory) writeJSONLines(lines []byte, what string) error {
	if f.outputFlags().jsonFilter() == nil {
		_, err := f.IO.Out.Write(lines)
		return err
	}
	for len(lines) > 0 {
		line, rest, _ := bytes.Cut(lines, []byte("\n"))
		lines = rest
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := f.writeJSON(append(append([]byte(nil), line...), '\n'), what); err != nil {
			return err
		}
	}
	return nil
}

func safeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = output.Safe(s)
	}
	return out
}

// outcomeView says how to print one job's outcome.
type outcomeView struct {
	JSON bool
	// Pending, if set, is the stderr line for a job that is fine but not
	// done (submitted without --wait, fetched while still running): its id
	// goes to stdout.
	Pending func(*runner.Outcome) string
	// Resume is the hint for a job whose wait stopped (it goes on).
	Resume func(*runner.Outcome) string
	// Transcript: the result is the text of the job's downloaded text
	// output (stt): printed alone on stdout, or as "text" with --json.
	// KeepFiles says the files were asked for (-o); else they are
	// temporary and not listed.
	Transcript, KeepFiles bool
}

// printOutcome prints one job's outcome the way every job command does and
// returns the error that decides the exit code: the result on stdout (with
// --json also for a failed or stopped job, or one whose download failed),
// the id of a job that goes on.
func printOutcome(f *Factory, o *runner.Outcome, err error, v outcomeView) error {
	ios := f.IO
	switch {
	case o == nil:
		return submitFailure(usageOf(err))
	case err == nil && o.Status != runner.StatusSuccess && v.Pending != nil:
		if v.JSON {
			return f.printResult(f.result(o), true, "")
		}
		fmt.Fprintln(ios.Out, output.Safe(o.ID))
		if !f.outputFlags().quiet() {
			ios.Infof("%s", v.Pending(o))
		}
		return nil
	case err == nil && v.Transcript && o.Status == runner.StatusSuccess:
		return f.printTranscript(o, v)
	case err == nil:
		res := f.result(o)
		if err := f.printResult(res, v.JSON, ""); err != nil {
			return err
		}
		if o.Status == runner.StatusSuccess {
			f.showResult(res)
		}
		return nil
	}
	var (
		failed  *runner.FailedError
		stopped *runner.StoppedError
	)
	if dir, ok := downloadDir(err); ok {
		return f.printArrived(o, err, dir, v.JSON)
	}
	if !errors.As(err, &failed) && !errors.As(err, &stopped) {
		return err
	}
	// The id goes to stdout (or the JSON with its status) so that a script
	// keeps it; stderr says how to follow up.
	if v.JSON {
		// A filter that failed on it has been reported: the job's own
		// error decides the exit code.
		if perr := f.printResult(f.result(o), true, ""); perr != nil && !isQuiet(perr) {
			return perr
		}
	} else if stopped != nil {
		fmt.Fprintln(ios.Out, output.Safe(o.ID))
	}
	if stopped != nil {
		return withHint(err, v.Resume(o))
	}
	return err
}

// downloadDir reports a finished job whose download failed or was cut
// short, and the directory its files go to.
func downloadDir(err error) (string, bool) {
	var (
		de      *runner.DownloadError
		stopped *runner.StoppedError
	)
	switch {
	case errors.As(err, &de):
		return de.Dir, true
	case errors.As(err, &stopped) && stopped.Downloading:
		return stopped.Dir, true
	}
	return "", false
}

// printArrived prints a finished job whose files did not all arrive: with
// --json its whole object and the error, else the paths that did arrive;
// the hint is the command that downloads the rest.
func (f *Factory) printArrived(o *runner.Outcome, err error, dir string, asJSON bool) error {
	res := f.result(o)
	if asJSON {
		if perr := f.printResult(res, true, f.redact(err.Error())); perr != nil {
			return perr
		}
	} else {
		for _, p := range res.Files {
			fmt.Fprintln(f.IO.Out, p)
		}
	}
	line := "mlab wait " + shellQuote(output.Safe(o.ID)) + resumeFlags(dir, asJSON)
	var tooLarge *output.TooLargeError
	if errors.As(err, &tooLarge) {
		return withHint(err, fmt.Sprintf("an output is over the %s download limit; fetch it with: %s --max-download-size SIZE (0: no limit)", output.FormatBytes(tooLarge.Limit), line))
	}
	return withHint(err, "the job succeeded; download its files with: "+line)
}

// submitFailure is the error of a job that never got an id: one whose
// submit may have reached the API says so (exit 4, or 130 when
// interrupted), one stopped by the deadline before it was sent exits 4.
func submitFailure(err error) error {
	var unknown *runner.SubmitUnknownError
	switch {
	case errors.As(err, &unknown):
		code := ExitAPI
		if errors.Is(err, context.Canceled) {
			code = ExitInterrupted
		}
		where := "look for track_id " + output.Safe(unknown.TrackID) + " in your ModelsLab dashboard"
		if unknown.Journaled {
			where = "it is in the journal ('mlab jobs' shows it as submitting); " + where
		}
		return &ExitError{Err: err, Code: code, Hint: where + " before you submit it again"}
	case errors.Is(err, context.DeadlineExceeded):
		return &ExitError{Err: err, Code: ExitAPI, Hint: "nothing was submitted before the --timeout deadline; raise --timeout"}
	}
	return err
}

// maxTranscript bounds the transcript read into memory.
const maxTranscript = 32 << 20

// printTranscript prints a finished stt job: its transcript (the text of
// its downloaded .txt outputs, in order) alone on stdout, made safe for a
// terminal; with --json the whole result with the text under "text".
func (f *Factory) printTranscript(o *runner.Outcome, v outcomeView) error {
	res := f.result(o)
	var text strings.Builder
	for _, p := range res.Files {
		if !strings.EqualFold(filepath.Ext(p), ".txt") {
			continue
		}
		data, err := output.ReadBounded(p, maxTranscript)
		if err != nil {
			return fmt.Errorf("read the transcript of job %s: %w", output.Safe(o.ID), err)
		}
		if text.Len() > 0 && !strings.HasSuffix(text.String(), "\n") {
			text.WriteString("\n")
		}
		text.Write(data)
	}
	if text.Len() == 0 {
		return fmt.Errorf("job %s finished without a transcript (no text output among %d files); its outputs: %s",
			output.Safe(o.ID), len(res.Files), strings.Join(safeAll(res.Output), " "))
	}
	if !v.KeepFiles {
		res.Files = []string{}
	}
	res.Text = strings.ToValidUTF8(text.String(), "\uFFFD")
	if v.JSON {
		return f.printResult(res, true, "")
	}
	t := res.Text
	if !strings.HasSuffix(t, "\n") {
		t += "\n"
	}
	if f.IO.IsStdoutTTY() {
		t = output.SafeLines(t)
	}
	_, err := io.WriteString(f.IO.Out, t)
	return err
}
