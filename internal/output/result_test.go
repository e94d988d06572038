package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// sampleResults are the cases rendered into the golden files.
func sampleResults() []struct {
	name string
	r    *Result
} {
	return []struct {
		name string
		r    *Result
	}{
		{"success with files", &Result{
			ID: "134701497", TrackID: "trk_1", Endpoint: "text2img", Status: "success",
			Output:    []string{"https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/a.png"},
			Files:     []string{"out/a.png"},
			Via:       "webhook",
			ETA:       4,
			ElapsedMS: 3200,
			Message:   "",
			Meta:      json.RawMessage(`{"prompt":"a cat & a dog","seed":42}`),
		}},
		{"success with urls only", &Result{
			ID: "134701498", Endpoint: "text2video", Status: "success",
			Output: []string{
				"https://pub.r2.dev/generations/v.mp4?x=1&y=2",
				"https://pub.r2.dev/generations/v2.mp4",
			},
			Via: "poll", ETA: 60, ElapsedMS: 65_400,
		}},
		{"failed", &Result{
			ID: "134701499", Endpoint: "text2img", Status: "failed", Via: "poll",
			ElapsedMS: 12_345, Message: "Request not found\n  try again",
		}},
		{"timed out", &Result{
			ID: "134701500", Endpoint: "text2video", Status: "processing",
			ETA: 120, ElapsedMS: 300_000, Message: "Video is processing",
		}},
		{"empty", &Result{}},
	}
}

func renderResults(t *testing.T, setup func(*IOStreams), asJSON bool) string {
	t.Helper()
	var all strings.Builder
	for _, tc := range sampleResults() {
		ios, _, out, errOut := Test()
		if setup != nil {
			setup(ios)
		}
		if err := PrintResult(ios, tc.r, asJSON); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		fmt.Fprintf(&all, "=== %s\n%s", tc.name, visible(streams(out.String(), errOut.String())))
	}
	return all.String()
}

// visible makes escape codes readable in golden files.
func visible(s string) string { return strings.ReplaceAll(s, "\x1b", `\x1b`) }

func TestPrintResultHumanGolden(t *testing.T) {
	got := renderResults(t, nil, false)
	if strings.Contains(got, `\x1b`) {
		t.Error("escape codes off a terminal")
	}
	golden(t, "result_human", got)
}

func TestPrintResultHumanTTYColorGolden(t *testing.T) {
	got := renderResults(t, func(ios *IOStreams) {
		ios.SetStdoutTTY(true)
		ios.SetStderrTTY(true)
		ios.SetColorEnabled(true)
	}, false)
	if !strings.Contains(got, `\x1b[`) {
		t.Error("no escape codes with colour forced on")
	}
	golden(t, "result_human_tty", got)
}

func TestPrintResultJSONGolden(t *testing.T) {
	got := renderResults(t, nil, true)
	golden(t, "result_json", got)
}

func TestPrintResultJSONContract(t *testing.T) {
	for _, tc := range sampleResults() {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, out, errOut := Test()
			ios.SetStderrTTY(true) // JSON mode writes nothing for people, even on a terminal
			if err := PrintResult(ios, tc.r, true); err != nil {
				t.Fatal(err)
			}
			if errOut.Len() != 0 {
				t.Errorf("stderr in JSON mode: %q", errOut)
			}
			s := out.String()
			if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
				t.Fatalf("want exactly one line, got %q", s)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(out.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"id", "track_id", "endpoint", "status", "output", "files", "via", "eta", "elapsed_ms", "message", "meta"} {
				if _, ok := m[k]; !ok {
					t.Errorf("key %q missing", k)
				}
			}
			if len(m) != 11 {
				t.Errorf("got %d keys, want 11", len(m))
			}
			for _, k := range []string{"output", "files"} {
				if string(m[k]) == "null" || m[k][0] != '[' {
					t.Errorf("%s = %s, want an array", k, m[k])
				}
			}
			if m["id"][0] != '"' {
				t.Errorf("id = %s, want a string", m["id"])
			}
			if tc.r.Meta == nil && string(m["meta"]) != "null" {
				t.Errorf("meta = %s, want null", m["meta"])
			}
			if bytes.Contains(out.Bytes(), []byte(`\u0026`)) {
				t.Error("HTML escaping in JSON output")
			}
		})
	}
}

func TestPrintResultInvalidMetaIsNull(t *testing.T) {
	ios, _, out, _ := Test()
	if err := PrintResult(ios, &Result{Meta: json.RawMessage(`{broken`)}, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"meta":null`) {
		t.Errorf("got %s", out)
	}
}

func TestPrintResultDoesNotMutate(t *testing.T) {
	r := &Result{ID: "1"}
	ios, _, _, _ := Test()
	if err := PrintResult(ios, r, true); err != nil {
		t.Fatal(err)
	}
	if r.Output != nil || r.Files != nil {
		t.Error("PrintResult changed its argument")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestPrintResultReportsWriteError(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		ios, _, _, _ := Test()
		ios.Out = failWriter{}
		err := PrintResult(ios, &Result{Output: []string{"https://x/y.png"}}, asJSON)
		if err == nil {
			t.Errorf("asJSON=%v: no error from a failing stdout", asJSON)
		}
	}
}

func TestPrintErrorGolden(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		hint   string
		code   int
		asJSON bool
		tty    bool
	}{
		{"plain", errors.New("job 134701499 failed: Request not found"), "", 1, false, false},
		{"hint", errors.New("401 Unauthorized: invalid API key"), "run `mlab auth login` or set MODELSLAB_API_KEY", 4, false, false},
		{"json", errors.New(`bad "prompt" <1> & more`), "", 2, true, false},
		{"json hint", errors.New("timed out after 5m0s"), "resume with `mlab wait 134701500`", 3, true, false},
		{"nil error", nil, "", 4, false, false},
		{"tty colour hint", errors.New("output link expired"), "download it within 24 h", 4, false, true},
	}
	var all strings.Builder
	for _, tc := range cases {
		ios, _, out, errOut := Test()
		if tc.tty {
			ios.SetStderrTTY(true)
			ios.SetColorEnabled(true)
		}
		PrintError(ios, tc.err, tc.hint, tc.code, tc.asJSON)
		if out.Len() != 0 {
			t.Errorf("%s: PrintError wrote to stdout: %q", tc.name, out)
		}
		if tc.asJSON {
			lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
			var e struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Hint    string `json:"hint"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &e); err != nil {
				t.Fatalf("%s: last stderr line is not JSON: %v", tc.name, err)
			}
			if e.Error.Code != tc.code || e.Error.Message != tc.err.Error() || e.Error.Hint != tc.hint {
				t.Errorf("%s: got %+v", tc.name, e)
			}
		}
		fmt.Fprintf(&all, "=== %s\n%s", tc.name, visible(streams(out.String(), errOut.String())))
	}
	golden(t, "print_error", all.String())
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.0s"},
		{-time.Second, "0.0s"},
		{400 * time.Millisecond, "0.4s"},
		{3200 * time.Millisecond, "3.2s"},
		{59960 * time.Millisecond, "59.9s"},
		{65 * time.Second, "1m05s"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1h02m03s"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestResultDropsMetaSecrets: the API echoes the request in meta; its
// webhook (the per-job token) and key are never printed (issue 13).
func TestResultDropsMetaSecrets(t *testing.T) {
	r := &Result{ID: "1", Meta: json.RawMessage(`{"prompt":"a <b>","webhook":"https://x.example/0123abcd","key":"sk-secret-0123456789","seed":7,"nested":{"webhook":"kept"}}`)}
	b, err := r.MarshalJSON() // json.Marshal would HTML-escape; PrintResult does not
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if strings.Contains(got, "0123abcd") || strings.Contains(got, "sk-secret") {
		t.Fatalf("secret printed: %s", got)
	}
	if !strings.Contains(got, `"meta":{"prompt":"a <b>","seed":7,"nested":{"webhook":"kept"}}`) {
		t.Fatalf("other members changed: %s", got)
	}
	plain := &Result{ID: "1", Meta: json.RawMessage(`{"b":1,"a":2}`)}
	if b, _ := json.Marshal(plain); !strings.Contains(string(b), `"meta":{"b":1,"a":2}`) {
		t.Fatalf("meta without secrets must stay verbatim: %s", b)
	}
}
