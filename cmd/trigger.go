package cmd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

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

// triggerEvents are the payload shapes `mlab trigger` sends, as documented
// (modelslab-api.md §5; the samples are testdata/payloads/webhook.*.json,
// lora_fine_tune.webhook.json and workflows.webhook.*.json).
var triggerEvents = []string{"success", "failed", "training", "workflow"}

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
		ValidArgs: triggerEvents,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return flagErrorf("mlab trigger takes one event (%s), got %d arguments", strings.Join(triggerEvents, ", "), len(args))
			}
			if !slices.Contains(triggerEvents, args[0]) {
				return flagErrorf("unknown event %q: use one of %s", args[0], strings.Join(triggerEvents, ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Event = args[0]
			if opts.To == "" && !opts.Print {
				return flagErrorf("--to URL is required: where to send the webhook (or --print to only show it)")
			}
			if opts.To != "" {
				if err := checkTargetURL(opts.To); err != nil {
					return flagErrorf("--to %q: %v", opts.To, err)
				}
			}
			if opts.Nested && opts.Event != "workflow" {
				return flagErrorf("--nested is for the workflow event")
			}
			if opts.Timeout <= 0 {
				return flagErrorf("--timeout must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runTrigger(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.To, "to", "", "send the webhook to `URL`")
	fl.StringVar(&opts.ID, "id", "", "the payload's id (default: fresh; digits are sent as a number)")
	fl.StringVar(&opts.TrackID, "track-id", "", "the payload's track_id (default: fresh, for success and failed)")
	fl.BoolVar(&opts.Nested, "nested", false, "workflow: the nested shape {event, workflow, execution}")
	fl.StringArrayVarP(&opts.Fields, "field", "F", nil, "set a top-level field `key=value` (true/false/null/numbers typed; @file reads a file)")
	fl.StringArrayVarP(&opts.RawFields, "raw-field", "f", nil, "set a top-level string field `key=value`")
	fl.BoolVar(&opts.JSON, "json", false, "print the result as one JSON object on stdout")
	fl.BoolVar(&opts.Print, "print", false, "print the payload on stdout (and send it only if --to is given)")
	fl.DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long the receiver may take to answer")
	return cmd
}

// jsonField is one member of an orderedObject.
type jsonField struct {
	Key string
	Val any
}

// orderedObject is a JSON object that keeps its members in the order
// given, so sample payloads read like the documented ones.
type orderedObject []jsonField

func (o *orderedObject) set(k string, v any) {
	for i := range *o {
		if (*o)[i].Key == k {
			(*o)[i].Val = v
			return
		}
	}
	*o = append(*o, jsonField{k, v})
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		b.Write(k)
		b.WriteByte(':')
		v, err := marshalNoEscape(f.Val)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

var numericIDRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})$`)

// idValue sends an id made of digits as a JSON number (as the API does) and
// anything else as a string.
func idValue(s string) any {
	if numericIDRE.MatchString(s) {
		return json.Number(s)
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func randomAlnum(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[mrand.IntN(len(chars))]
	}
	return string(b)
}

func randomUUID() string {
	h := randomHex(32)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// samplePayload builds the event's documented shape with fresh ids.
func (o *TriggerOptions) samplePayload() orderedObject {
	now := time.Now().UTC()
	if o.now != nil {
		now = o.now().UTC()
	}
	id := o.ID
	var p orderedObject
	switch o.Event {
	case "success", "failed":
		if id == "" {
			id = fmt.Sprint(100_000_000 + mrand.IntN(900_000_000))
		}
		trackID := firstNonEmpty(o.TrackID, newTrackID())
		if o.Event == "success" {
			p = orderedObject{
				{"status", "success"},
				{"id", idValue(id)},
				{"output", []string{"https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/" + id + "-0.png"}},
				{"generationTime", 2.71},
				{"track_id", trackID},
				{"meta", orderedObject{
					{"prompt", "a lighthouse at dusk"},
					{"model_id", "flux"},
					{"width", 512},
					{"height", 512},
					{"seed", 1234567890},
				}},
			}
		} else {
			p = orderedObject{
				{"status", "failed"},
				{"id", idValue(id)},
				{"message", "Processing failed: Invalid input dimensions"},
				{"track_id", trackID},
			}
		}
	case "training":
		if id == "" {
			id = randomAlnum(10)
		}
		p = orderedObject{
			{"status", "success"},
			{"training_status", "deploying_gpu"},
			{"logs", "it will take upto 25 minutes"},
			{"model_id", id},
		}
		if o.TrackID != "" {
			p.set("track_id", o.TrackID)
		}
	case "workflow":
		if o.Nested {
			if id == "" {
				id = "exec_" + randomHex(6)
			}
			p = orderedObject{
				{"event", "workflow.completed"},
				{"workflow", orderedObject{
					{"id", "wf_" + randomHex(6)},
					{"name", "My Image Pipeline"},
					{"user_id", 12345},
				}},
				{"execution", orderedObject{
					{"id", idValue(id)},
					{"status", "completed"},
					{"started_at", now.Add(-45 * time.Second).Format(time.RFC3339)},
					{"completed_at", now.Format(time.RFC3339)},
					{"execution_time", 45.2},
					{"input_data", orderedObject{{"prompt", "A beautiful sunset"}}},
					{"output_data", orderedObject{{"images", []string{"https://cdn.modelslab.com/generated/" + randomHex(12) + ".png"}}}},
				}},
			}
		} else {
			if id == "" {
				id = fmt.Sprint(10_000 + mrand.IntN(90_000))
			}
			p = orderedObject{
				{"event", "workflow.completed"},
				{"execution_id", idValue(id)},
				{"workflow_id", randomUUID()},
				{"status", "completed"},
				{"output", orderedObject{{"output", []string{"https://cdn.modelslab.com/generated/" + randomHex(12) + ".png"}}}},
				{"completed_at", now.Format(time.RFC3339)},
			}
		}
		if o.TrackID != "" {
			p.set("track_id", o.TrackID)
		}
	}
	return p
}

func runTrigger(ctx context.Context, o *TriggerOptions) error {
	ios := o.f.IO
	payload := o.samplePayload()
	extra, err := parseFields(o.Fields, o.RawFields, ios.In)
	if err != nil {
		return err
	}
	// Flags in the order given would be nicer, but parseFields returns a
	// map: apply them sorted so runs are reproducible.
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		payload.set(k, extra[k])
	}
	body, err := marshalNoEscape(payload)
	if err != nil {
		return err
	}
	sum := summarize(body)
	if o.Print {
		var pretty bytes.Buffer
		json.Indent(&pretty, body, "", "  ")
		fmt.Fprintln(ios.Out, pretty.String())
		if o.To == "" {
			return nil
		}
	}
	client := newSendClient(o.Timeout)
	defer client.CloseIdleConnections()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "mlab/"+o.f.Build.Version+" (trigger)")
	res := postDelivery(ctx, client, http.MethodPost, o.To, h, body)
	if ctx.Err() != nil {
		return fmt.Errorf("trigger interrupted: %w", ctx.Err())
	}
	printSend(ios, o.JSON, sendLine{Event: o.Event, Kind: sum.Kind, ID: sum.ID, TrackID: sum.TrackID, To: o.To}, res)
	if !res.ok() {
		var err error
		if res.err != nil {
			err = fmt.Errorf("send the %s webhook to %s: %w", o.Event, o.To, res.err)
		} else {
			err = fmt.Errorf("%s answered the %s webhook with %d %s", o.To, o.Event, res.status, http.StatusText(res.status))
		}
		return &ExitError{Err: err, Code: ExitAPI}
	}
	return nil
}
