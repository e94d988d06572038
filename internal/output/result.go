package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Result is the JSON contract of one job, printed by [PrintResult]. Keys
// are stable snake_case; ids are strings; Output and Files are printed as
// [] (never null) and Meta as null when absent.
type Result struct {
	// ID is the ModelsLab request id, as text.
	ID string `json:"id"`
	// TrackID is the correlation id mlab sent with the job.
	TrackID string `json:"track_id"`
	// Endpoint is the catalogue name of the endpoint, e.g. "text2img".
	Endpoint string `json:"endpoint"`
	// Status is "success", "failed", "processing" (timed out or not
	// waited for), or another status the API reported.
	Status string `json:"status"`
	// Output holds the output URLs (or data: URIs) the API returned.
	Output []string `json:"output"`
	// Files holds the paths of downloaded outputs, in the order of Output.
	Files []string `json:"files"`
	// Via tells how the result arrived: "webhook", "poll", "immediate", or
	// "" when it was not waited for.
	Via string `json:"via"`
	// ETA is the API's estimate in seconds, 0 when none was given.
	ETA float64 `json:"eta"`
	// ElapsedMS is the wall time from submit to result, in milliseconds.
	ElapsedMS int64 `json:"elapsed_ms"`
	// Message is the API's message (the failure reason when failed).
	Message string `json:"message"`
	// Text is the transcript of a speech-to-text job (mlab stt), read
	// from its text output; omitted for other jobs.
	Text string `json:"text,omitempty"`
	// Meta is the API's meta object verbatim, or null.
	Meta json.RawMessage `json:"meta"`
	// ModelID is the trained model's id (training jobs only; omitted
	// otherwise). Human output prints it on stdout in place of URLs.
	ModelID string `json:"model_id,omitempty"`
	// BatchID and Line identify a job of a --batch run: the batch and the
	// input line the job came from (omitted otherwise).
	BatchID string `json:"batch_id,omitempty"`
	Line    int    `json:"line,omitempty"`
}

// normalized returns a copy of r whose slices are non-nil and whose Meta is
// valid JSON or null.
func (r *Result) normalized() Result {
	c := *r
	if c.Output == nil {
		c.Output = []string{}
	}
	if c.Files == nil {
		c.Files = []string{}
	}
	if len(bytes.TrimSpace(c.Meta)) == 0 || !json.Valid(c.Meta) {
		c.Meta = nil // encodes as null
	}
	c.Meta = dropMetaSecrets(c.Meta)
	return c
}

// metaSecrets are meta keys never printed: the API echoes the request, and
// "webhook" carries the job's secret path token, "key" the API key.
var metaSecrets = map[string]bool{"webhook": true, "key": true, "KEY": true, "Key": true}

// dropMetaSecrets removes metaSecrets from a meta object, keeping the order
// and bytes of every other member. Anything but an object is returned as is.
func dropMetaSecrets(meta json.RawMessage) json.RawMessage {
	trimmed := bytes.TrimSpace(meta)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return meta
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil { // {
		return meta
	}
	var out bytes.Buffer
	out.WriteByte('{')
	dropped := false
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return meta
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return meta
		}
		if metaSecrets[key] {
			dropped = true
			continue
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(val)
	}
	if !dropped {
		return meta
	}
	out.WriteByte('}')
	return out.Bytes()
}

// MarshalJSON encodes r following the contract: Output and Files as []
// when empty, Meta as null when absent or not valid JSON. (json.Marshal
// still HTML-escapes the result; [PrintResult] does not.)
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result // no methods: avoids recursion
	c := plain(r.normalized())
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// PrintResult writes r.
//
// With asJSON it writes exactly one compact JSON object and a newline to
// s.Out, and nothing to s.ErrOut.
//
// Otherwise it writes one line per downloaded file to s.Out (or one per
// output URL when nothing was downloaded), then a one-line summary for
// people to s.ErrOut, e.g. "✓ success in 3.2s via webhook · id 134701497 ·
// 1 file". The summary is styled when colour is on and plain text
// otherwise.
//
// The returned error is the first write error on s.Out (a closed pipe, for
// instance).
func PrintResult(s *IOStreams, r *Result, asJSON bool) error {
	if r == nil {
		r = &Result{}
	}
	if asJSON {
		// An Encoder (not json.Marshal) so that "&" in URLs is not
		// escaped as \u0026; encode to memory first so a failure writes
		// nothing.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		_, err := s.Out.Write(buf.Bytes())
		return err
	}

	if err := PrintQuiet(s.Out, r); err != nil {
		return err
	}
	s.writeErr(summaryLine(s.Styles(), r) + "\n")
	return nil
}

// PrintQuiet writes what a result leaves for scripts, one per line: the
// downloaded files, else the output URLs, else a trained model's id (the
// stdout of PrintResult, and all of -q).
func PrintQuiet(w io.Writer, r *Result) error {
	lines := r.Files
	if len(lines) == 0 {
		lines = r.Output
	}
	if len(lines) == 0 && r.ModelID != "" {
		lines = []string{r.ModelID}
	}
	if len(lines) == 0 {
		return nil
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

// ReadBounded reads the file at path, refusing one over max bytes.
func ReadBounded(path string, max int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is over %s", path, FormatBytes(max))
	}
	return data, nil
}

// summaryLine renders the human one-line summary of r.
func summaryLine(st *Styles, r *Result) string {
	status := r.Status
	if status == "" {
		status = "unknown"
	}
	elapsed := time.Duration(r.ElapsedMS) * time.Millisecond

	var b strings.Builder
	switch strings.ToLower(status) {
	case "success":
		b.WriteString(st.Success.Render("✓ " + status))
		if r.ElapsedMS > 0 {
			b.WriteString(" in " + FormatDuration(elapsed))
		}
	case "failed", "error":
		b.WriteString(st.Error.Render("✗ " + status))
		if r.ElapsedMS > 0 {
			b.WriteString(" after " + FormatDuration(elapsed))
		}
	default:
		b.WriteString(st.Warn.Render("• " + status))
		if r.ElapsedMS > 0 {
			b.WriteString(" after " + FormatDuration(elapsed))
		}
	}
	if r.Via != "" {
		b.WriteString(" via " + r.Via)
	}
	sep := st.Muted.Render(" · ")
	if r.ID != "" {
		b.WriteString(sep + "id " + st.ID.Render(r.ID))
	}
	switch {
	case len(r.Files) > 0:
		b.WriteString(sep + Plural(len(r.Files), "file", "files"))
	case len(r.Output) > 0:
		b.WriteString(sep + Plural(len(r.Output), "output", "outputs"))
	}
	if r.Message != "" && !strings.EqualFold(status, "success") {
		b.WriteString(sep + oneLine(r.Message))
	}
	return b.String()
}

// oneLine collapses runs of whitespace (including newlines) to one space.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// errorJSON is the shape of the JSON error line.
type errorJSON struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Hint    string `json:"hint,omitempty"`
	} `json:"error"`
}

// PrintError writes "error: <msg>" to s.ErrOut (the prefix styled when
// colour is on) and, when hint is not empty, a second line "hint: <hint>".
// With asJSON it also writes one line {"error":{"code":N,"message":"...",
// "hint":"..."}} to s.ErrOut ("hint" omitted when empty). Nothing is ever
// written to s.Out, so a --json consumer of stdout sees no partial object.
func PrintError(s *IOStreams, err error, hint string, code int, asJSON bool) {
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	st := s.Styles()
	var b strings.Builder
	b.WriteString(st.Error.Render("error:") + " " + msg + "\n")
	if hint != "" {
		b.WriteString(st.Muted.Render("hint:") + " " + hint + "\n")
	}
	if asJSON {
		var e errorJSON
		e.Error.Code, e.Error.Message, e.Error.Hint = code, msg, hint
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if enc.Encode(e) == nil { // cannot fail: strings and an int
			b.Write(buf.Bytes())
		}
	}
	s.writeErr(b.String())
}
