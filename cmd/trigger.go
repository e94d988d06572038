package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/webhook"
	"github.com/spf13/cobra"
)

// TriggerOptions are the flags of `mlab trigger`.
type TriggerOptions struct {
	f         *Factory
	Event     string
	To        string
	ID        string
	TrackID   string
	Nested    bool
	Fields    []string
	RawFields []string
	JSON      bool
	Print     bool
	Timeout   time.Duration

	now func() time.Time // tests
}

func newCmdTrigger(f *Factory, runF func(context.Context, *TriggerOptions) error) *cobra.Command {
	opts := &TriggerOptions{f: f}
	cmd := &cobra.Command{
		Use:   "trigger success|failed|training|workflow --to URL",
		Short: "Send a sample ModelsLab webhook to any URL",
		Long: `Send a realistic sample webhook, in one of the shapes ModelsLab documents, to
any receiver: test your own webhook handler (or mlab listen) without running
a job or spending credits.

  success    a finished generation: {"status":"success","id","output":[...],
             "generationTime","track_id","meta":{...}}
  failed     a failed generation: {"status":"failed","id","message","track_id"}
  training   a fine-tune update: {"status":"success","training_status",
             "logs","model_id"}
  workflow   a finished workflow run, flat: {"event":"workflow.completed",
             "execution_id","workflow_id","status","output","completed_at"};
             with --nested the other documented shape: {"event",
             "workflow":{...},"execution":{...}}

Every run has a fresh id (a 9-digit number, as the API sends; model_id for
training, the execution id for workflows) and a fresh track_id (generations
only), unless --id and --track-id set them. -F key=value and -f key=value set
or replace any top-level field (typed as for job commands), e.g.
-F training_status=trained or -f event=workflow.failed.

The receiver's answer goes to stdout: [status] POST URL, the payload and the
round trip (with --json one object: {"event","kind","id","track_id","to",
"status_code","elapsed_ms","error"}). --print shows the payload instead, and
sends it only when --to is given too.

Exit status:
  0    the receiver answered 2xx (or --print without --to)
  2    usage error
  4    no answer, or an answer that is not 2xx`,
		Example: `  $ mlab trigger success --to http://localhost:3000/hooks/modelslab
  [200] POST http://localhost:3000/hooks/modelslab  generation 482913377 (track_id mlab-0d6c3a2f9e1b7a54)  1.9ms

  # against mlab listen, with ids your test expects
  $ mlab trigger failed --to http://127.0.0.1:8787/dev --id 134701497 --track-id my-job-1

  # the other documented workflow shape, as a failure
  $ mlab trigger workflow --nested -f event=workflow.failed --to http://localhost:3000/hooks

  # just look at a shape
  $ mlab trigger training --print`,
		ValidArgs: webhook.Events,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return flagErrorf("mlab trigger takes one event (%s), got %d arguments", strings.Join(webhook.Events, ", "), len(args))
			}
			if !slices.Contains(webhook.Events, args[0]) {
				return flagErrorf("unknown event %q: use one of %s", args[0], strings.Join(webhook.Events, ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Event = args[0]
			if err := opts.validate(); err != nil {
				return err
			}
			return pickRun(runF, runTrigger)(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	// The payload (its shape, ids and fields), then where it goes.
	fl.BoolVar(&opts.Nested, "nested", false, "workflow: the nested shape {event, workflow, execution}")
	fl.StringVar(&opts.ID, "id", "", "the payload's id (default: fresh; digits are sent as a number)")
	fl.StringVar(&opts.TrackID, "track-id", "", "the payload's track_id (default: fresh, for success and failed)")
	fl.StringArrayVarP(&opts.Fields, "field", "F", nil, "set a top-level field `key=value` (true/false/null, numbers and JSON arrays/objects typed; @file reads a file)")
	fl.StringArrayVarP(&opts.RawFields, "raw-field", "f", nil, "set a top-level string field `key=value`")
	fl.BoolVar(&opts.Print, "print", false, "print the payload on stdout (and send it only if --to is given)")
	fl.StringVar(&opts.To, "to", "", "send the webhook to `URL`")
	fl.BoolVar(&opts.JSON, "json", false, "print the result as one JSON object on stdout")
	durationFlag(fl, &opts.Timeout, "timeout", 30*time.Second, "how long the receiver may take to answer")
	return cmd
}

func (o *TriggerOptions) validate() error {
	if o.To == "" && !o.Print {
		return flagErrorf("--to URL is required: where to send the webhook (or --print to only show it)")
	}
	if o.To != "" {
		if err := checkTargetURL(o.To); err != nil {
			return flagErrorf("--to %q: %v", o.To, err)
		}
	}
	if o.Nested && o.Event != "workflow" {
		return flagErrorf("--nested is for the workflow event")
	}
	if o.Timeout <= 0 {
		return flagErrorf("--timeout must be positive")
	}
	return nil
}

// payload builds the event's sample (internal/webhook) with the -F/-f
// fields on top, as compact JSON.
func (o *TriggerOptions) payload() ([]byte, error) {
	now := time.Now()
	if o.now != nil {
		now = o.now()
	}
	p := webhook.Sample(webhook.SampleOptions{Event: o.Event, ID: o.ID, TrackID: o.TrackID, Nested: o.Nested, Now: now})
	extra, err := parseFields(o.Fields, o.RawFields, o.f.IO.In)
	if err != nil {
		return nil, err
	}
	// Flags in the order given would be nicer, but parseFields returns a
	// map: apply them sorted so runs are reproducible.
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		p.Set(k, extra[k])
	}
	return webhook.Marshal(p)
}

func runTrigger(ctx context.Context, o *TriggerOptions) error {
	ios := o.f.IO
	body, err := o.payload()
	if err != nil {
		return err
	}
	sum := webhook.Summarize(body)
	if o.Print {
		var pretty bytes.Buffer
		json.Indent(&pretty, body, "", "  ")
		fmt.Fprintln(ios.Out, pretty.String())
		if o.To == "" {
			return nil
		}
	}
	client := webhook.NewClient(o.Timeout)
	defer client.CloseIdleConnections()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "mlab/"+o.f.Build.Version+" (trigger)")
	res := webhook.Send(ctx, client, webhook.Request{URL: o.To, Header: h, Body: body})
	if ctx.Err() != nil {
		return fmt.Errorf("trigger interrupted: %w", ctx.Err())
	}
	printSend(ios, o.JSON, sendLine{Event: o.Event, Kind: sum.Kind, ID: sum.ID, TrackID: sum.TrackID, To: o.To}, res)
	if res.Err != nil {
		return &ExitError{Err: fmt.Errorf("send the %s webhook to %s: %w", o.Event, o.To, res.Err), Code: ExitAPI}
	}
	if !res.OK() {
		return &ExitError{Err: fmt.Errorf("%s answered the %s webhook with %d %s", o.To, o.Event, res.Status, http.StatusText(res.Status)), Code: ExitAPI}
	}
	return nil
}
