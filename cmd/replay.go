package cmd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/webhook"
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
	// KeepCredentials sends recorded Authorization, Cookie, API-key and
	// other credential headers too (--keep-credentials).
	KeepCredentials bool
}

func newCmdReplay(f *Factory, runF func(context.Context, *ReplayOptions) error) *cobra.Command {
	opts := &ReplayOptions{f: f}
	cmd := &cobra.Command{
		Use:   "replay FILE --to URL",
		Short: "Send recorded webhook deliveries again",
		Long: `Send the deliveries recorded by mlab listen --record FILE (or saved from
mlab listen --json) to a URL again, in order, one at a time: each as a POST,
its body byte for byte, with the recorded headers minus the connection-level
ones and minus credentials: Authorization, Proxy-Authorization, Cookie,
X-Api-Key, Key and other key, token, secret or session headers are not sent
unless --keep-credentials says so (a recording may hold someone else's,
and --to may be anywhere). The headers left out are named on stderr.

--id and --track-id select deliveries (repeat them, or list with commas); the
id is the payload's id (model_id for training, the execution id for
workflows). FILE "-" reads standard input. A line cut short by a crash is
skipped with a warning.

For each delivery one line goes to stdout: the receiver's status, the
delivery and the round trip (with --json one object per delivery:
{"line","kind","id","track_id","status_code","elapsed_ms","error"}).

Exit status:
  0    every delivery was answered 2xx
  2    usage error (bad flags, unreadable FILE, a FILE with lines but no
       recorded delivery, nothing matches the filters)
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
			if err := opts.validate(args[0]); err != nil {
				return err
			}
			return pickRun(runF, runReplay)(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.To, "to", "", "send the deliveries to `URL` (required)")
	fl.StringSliceVar(&opts.IDs, "id", nil, "only deliveries with this payload `ID` (repeatable)")
	fl.StringSliceVar(&opts.TrackIDs, "track-id", nil, "only deliveries with this `TRACK_ID` (repeatable)")
	fl.BoolVar(&opts.JSON, "json", false, "one JSON object per delivery sent, on stdout")
	durationFlag(fl, &opts.Timeout, "timeout", 30*time.Second, "how long the receiver may take to answer each delivery")
	fl.BoolVar(&opts.KeepCredentials, "keep-credentials", false, "also send recorded credential headers (Authorization, Cookie, X-Api-Key, ...)")
	return cmd
}

func (o *ReplayOptions) validate(file string) error {
	o.File = file
	if o.To == "" {
		return flagErrorf("--to URL is required: where to send the deliveries")
	}
	if err := checkTargetURL(o.To); err != nil {
		return flagErrorf("--to %q: %v", o.To, err)
	}
	if o.Timeout <= 0 {
		return flagErrorf("--timeout must be positive")
	}
	return nil
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

// printSend reports one send: a JSON line, or a human line on stdout
// (always a POST: webhook.Send sends nothing else). The payload's id and
// track_id are untrusted, and made safe for the terminal.
func printSend(ios *output.IOStreams, asJSON bool, l sendLine, res webhook.Result) {
	l.StatusCode, l.ElapsedMS = res.Status, res.Elapsed.Milliseconds()
	if res.Err != nil {
		l.Error = res.Err.Error()
	} else if !res.OK() {
		l.Error = fmt.Sprintf("answered %d %s", res.Status, http.StatusText(res.Status))
	}
	if asJSON {
		line, _ := webhook.Marshal(l)
		ios.Out.Write(append(line, '\n'))
		return
	}
	st := ios.Styles()
	what := output.Safe(webhook.Summary{Kind: l.Kind, ID: webhook.Clip(l.ID, maxShownField), TrackID: webhook.Clip(l.TrackID, maxShownField)}.Describe())
	to := output.Safe(l.To)
	if res.Err != nil {
		fmt.Fprintf(ios.Out, "%s POST %s  %s  %s\n", st.Error.Render("[---]"), to, what, output.Safe(res.Err.Error()))
		return
	}
	code := fmt.Sprintf("[%d]", res.Status)
	if res.OK() {
		code = st.Success.Render(code)
	} else {
		code = st.Error.Render(code)
	}
	fmt.Fprintf(ios.Out, "%s POST %s  %s  %s\n", code, to, what, st.Muted.Render(output.FormatLatency(res.Elapsed)))
}

func runReplay(ctx context.Context, o *ReplayOptions) error {
	ios := o.f.IO
	recs, err := o.readRecords()
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		ios.Infof("no deliveries in %s: nothing to replay", o.File)
		return nil
	}
	sel := webhook.Filter(recs, o.IDs, o.TrackIDs)
	if len(sel) == 0 {
		return flagErrorf("none of the %s in %s matches the --id/--track-id filters", deliveryCount(len(recs)), o.File)
	}
	failed, err := o.send(ctx, sel)
	if err != nil {
		return err
	}
	if failed > 0 {
		err := fmt.Errorf("%d of %s failed", failed, deliveryCount(len(sel)))
		return &ExitError{Err: err, Hint: "is the receiver at " + o.To + " up, and does it answer 2xx?", Code: ExitAPI}
	}
	ios.Successf("replayed %s to %s", deliveryCount(len(sel)), o.To)
	return nil
}

// send POSTs the selected records to --to, one at a time, and reports
// each; it says once which recorded credential headers it left out.
func (o *ReplayOptions) send(ctx context.Context, sel []webhook.Record) (failed int, err error) {
	ios := o.f.IO
	client := webhook.NewClient(o.Timeout)
	defer client.CloseIdleConnections()
	left := map[string]bool{}
	for i, r := range sel {
		if ctx.Err() != nil {
			return failed, fmt.Errorf("replay interrupted after %d of %s: %w", i, deliveryCount(len(sel)), ctx.Err())
		}
		req, dropped := r.Request(o.To, o.KeepCredentials)
		for _, h := range dropped {
			if !left[h] {
				left[h] = true
				ios.Warnf("not sending the recorded %s header (--keep-credentials sends it)", output.Safe(h))
			}
		}
		res := webhook.Send(ctx, client, req)
		if !res.OK() {
			failed++
		}
		printSend(ios, o.JSON, sendLine{Line: r.LineNo, Kind: r.Summary.Kind, ID: r.Summary.ID, TrackID: r.Summary.TrackID, To: o.To}, res)
	}
	return failed, nil
}

// readRecords reads FILE ("-": stdin); bad lines are warned about and skipped.
func (o *ReplayOptions) readRecords() ([]webhook.Record, error) {
	var in io.Reader = o.f.IO.In
	if o.File != "-" {
		fh, err := os.Open(o.File)
		if err != nil {
			return nil, flagErrorf("read %s: %v", o.File, unwrapPathError(err))
		}
		defer fh.Close()
		in = fh
	}
	// A warning may quote the line (a JSON error names a header key).
	skipped := 0
	warn := func(format string, a ...any) {
		skipped++
		o.f.IO.Warnf("%s", output.Safe(fmt.Sprintf(format, a...)))
	}
	recs, err := webhook.ReadRecords(in, warn)
	if err != nil {
		return nil, flagErrorf("read %s: %v", o.File, err)
	}
	if len(recs) == 0 && skipped > 0 {
		return nil, &FlagError{Err: fmt.Errorf("%s holds no recorded delivery (%s skipped)", o.File, output.Plural(skipped, "line", "lines")),
			Hint: "replay reads the JSON lines of mlab listen --record FILE (or mlab listen --json)"}
	}
	return recs, nil
}

// deliveryCount counts deliveries for people: "1 delivery", "4 deliveries".
func deliveryCount(n int) string { return output.Plural(n, "delivery", "deliveries") }
