package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/mlabcli/mlab/internal/output"
	"github.com/spf13/cobra"
)

// ReplayOptions are the flags of `mlab replay`.
type ReplayOptions struct {
	f        *Factory
	File     string
	To       string
	IDs      []string
	TrackIDs []string
	JSON     bool
	Timeout  time.Duration
}

func newCmdReplay(f *Factory, runF func(context.Context, *ReplayOptions) error) *cobra.Command {
	opts := &ReplayOptions{f: f}
	cmd := &cobra.Command{
		Use:   "replay FILE --to URL",
		Short: "Send recorded webhook deliveries again",
		Long: `Send the deliveries recorded by mlab listen --record FILE (or saved from
mlab listen --json) to a URL again, in order, one at a time: each body byte
for byte, with the recorded headers (minus the connection-level ones).

--id and --track-id select deliveries (repeat them, or list with commas); the
id is the payload's id (model_id for training, the execution id for
workflows). FILE "-" reads standard input. A line cut short by a crash is
skipped with a warning.

For each delivery one line goes to stdout: the receiver's status, the
delivery and the round trip (with --json one object per delivery:
{"line","kind","id","track_id","status_code","elapsed_ms","error"}).

Exit status:
  0    every delivery was answered 2xx
  2    usage error (bad flags, unreadable FILE, nothing matches the filters)
  4    at least one delivery failed: no answer, or not 2xx`,
		Example: `  $ mlab listen --record hooks.jsonl
  $ mlab replay hooks.jsonl --to http://localhost:3000/hooks/modelslab

  # only one job's deliveries
  $ mlab replay hooks.jsonl --to http://localhost:3000/hooks --track-id mlab-63a3f91ada59a8af

  # from a filtered listen log
  $ jq -c 'select(.kind=="workflow")' hooks.jsonl | mlab replay - --to http://localhost:3000/hooks`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return flagErrorf("mlab replay takes exactly one FILE (a --record file, or - for stdin), got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if opts.To == "" {
				return flagErrorf("--to URL is required: where to send the deliveries")
			}
			if err := checkTargetURL(opts.To); err != nil {
				return flagErrorf("--to %q: %v", opts.To, err)
			}
			if opts.Timeout <= 0 {
				return flagErrorf("--timeout must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runReplay(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.To, "to", "", "send the deliveries to `URL` (required)")
	fl.StringSliceVar(&opts.IDs, "id", nil, "only deliveries with this payload `ID` (repeatable)")
	fl.StringSliceVar(&opts.TrackIDs, "track-id", nil, "only deliveries with this `TRACK_ID` (repeatable)")
	fl.BoolVar(&opts.JSON, "json", false, "one JSON object per delivery sent, on stdout")
	fl.DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long the receiver may take to answer each delivery")
	return cmd
}

// recordedDelivery is one usable line of a record file.
type recordedDelivery struct {
	lineNo int
	line   deliveryLine
	body   []byte
	sum    deliverySummary
}

// readRecords parses a JSON-lines record. Lines that are not deliveries are
// reported through warn and skipped.
func readRecords(r io.Reader, warn func(string, ...any)) ([]recordedDelivery, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []recordedDelivery
	for n := 1; ; n++ {
		raw, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(raw)) > 0 {
			complete := bytes.HasSuffix(raw, []byte("\n"))
			var l deliveryLine
			if jerr := json.Unmarshal(raw, &l); jerr != nil {
				if !complete {
					warn("line %d is incomplete (a recording cut short?): skipped", n)
				} else {
					warn("line %d is not a recorded delivery (%v): skipped", n, jerr)
				}
			} else if body, berr := l.bodyBytes(); berr != nil {
				warn("line %d has no body: skipped", n)
			} else {
				out = append(out, recordedDelivery{lineNo: n, line: l, body: body, sum: summarize(body)})
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// sendResult is the outcome of one POST by replay or trigger.
type sendResult struct {
	status  int
	elapsed time.Duration
	err     error
}

func (r sendResult) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// postDelivery sends body to url with the given headers and reports the
// receiver's answer.
func postDelivery(ctx context.Context, client *http.Client, method, url string, header http.Header, body []byte) sendResult {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return sendResult{err: err}
	}
	for k, vs := range header {
		if !hopHeaders[k] {
			req.Header[k] = append([]string(nil), vs...)
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := client.Do(req)
	res := sendResult{elapsed: time.Since(start)}
	if err != nil {
		res.err = plainNetError(err)
		return res
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	res.status = resp.StatusCode
	return res
}

func newSendClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// sendLine is the --json shape of one delivery sent by replay or trigger.
type sendLine struct {
	Line       int    `json:"line,omitempty"`
	Event      string `json:"event,omitempty"`
	Kind       string `json:"kind"`
	ID         string `json:"id"`
	TrackID    string `json:"track_id"`
	To         string `json:"to"`
	StatusCode int    `json:"status_code"`
	ElapsedMS  int64  `json:"elapsed_ms"`
	Error      string `json:"error,omitempty"`
}

// printSend reports one send: a JSON line, or a human line on stdout.
func printSend(ios *output.IOStreams, asJSON bool, l sendLine, res sendResult) {
	l.StatusCode, l.ElapsedMS = res.status, res.elapsed.Milliseconds()
	if res.err != nil {
		l.Error = res.err.Error()
	} else if !res.ok() {
		l.Error = fmt.Sprintf("answered %d %s", res.status, http.StatusText(res.status))
	}
	if asJSON {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(l)
		ios.Out.Write(buf.Bytes())
		return
	}
	st := ios.Styles()
	what := describeDelivery(deliverySummary{Kind: l.Kind, ID: l.ID, TrackID: l.TrackID})
	if res.err != nil {
		fmt.Fprintf(ios.Out, "%s POST %s  %s  %s\n", st.Error.Render("[---]"), l.To, what, res.err)
		return
	}
	code := fmt.Sprintf("[%d]", res.status)
	if res.ok() {
		code = st.Success.Render(code)
	} else {
		code = st.Error.Render(code)
	}
	fmt.Fprintf(ios.Out, "%s POST %s  %s  %s\n", code, l.To, what, st.Muted.Render(latencyText(res.elapsed)))
}

func runReplay(ctx context.Context, o *ReplayOptions) error {
	ios := o.f.IO
	var in io.Reader = ios.In
	if o.File != "-" {
		fh, err := os.Open(o.File)
		if err != nil {
			return flagErrorf("read %s: %v", o.File, err)
		}
		defer fh.Close()
		in = fh
	}
	recs, err := readRecords(in, ios.Warnf)
	if err != nil {
		return flagErrorf("read %s: %v", o.File, err)
	}
	if len(recs) == 0 {
		ios.Infof("no deliveries in %s: nothing to replay", o.File)
		return nil
	}
	var sel []recordedDelivery
	for _, r := range recs {
		if len(o.IDs) > 0 && !slices.Contains(o.IDs, r.sum.ID) {
			continue
		}
		if len(o.TrackIDs) > 0 && !slices.Contains(o.TrackIDs, r.sum.TrackID) {
			continue
		}
		sel = append(sel, r)
	}
	if len(sel) == 0 {
		return flagErrorf("none of the %s in %s matches the --id/--track-id filters", countOf(len(recs), "delivery", "deliveries"), o.File)
	}
	client := newSendClient(o.Timeout)
	defer client.CloseIdleConnections()
	failed := 0
	for i, r := range sel {
		if ctx.Err() != nil {
			return fmt.Errorf("replay interrupted after %d of %s: %w", i, countOf(len(sel), "delivery", "deliveries"), ctx.Err())
		}
		h := http.Header{}
		for k, v := range r.line.Headers {
			h.Set(k, v)
		}
		method := r.line.Method
		if method == "" {
			method = http.MethodPost
		}
		res := postDelivery(ctx, client, method, o.To, h, r.body)
		if !res.ok() {
			failed++
		}
		printSend(ios, o.JSON, sendLine{Line: r.lineNo, Kind: r.sum.Kind, ID: r.sum.ID, TrackID: r.sum.TrackID, To: o.To}, res)
	}
	if failed > 0 {
		err := fmt.Errorf("%d of %s failed", failed, countOf(len(sel), "delivery", "deliveries"))
		return &ExitError{Err: err, Hint: "is the receiver at " + o.To + " up, and does it answer 2xx?", Code: ExitAPI}
	}
	ios.Successf("replayed %s to %s", countOf(len(sel), "delivery", "deliveries"), o.To)
	return nil
}
