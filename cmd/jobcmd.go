package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// fieldKind is the type of a body-field flag.
type fieldKind int

const (
	kString fieldKind = iota
	kInt
	kFloat
	kBool
	kStrings // repeatable / comma-separated list
	kFile    // a file whose text goes into the field
	kInt64   // a typed flag only: an int64
)

// fieldFlag binds one flag to one body field.
type fieldFlag struct {
	flag, short, field, usage string
	kind                      fieldKind
	def                       string   // default (as text); sent even when the flag is not given
	choices                   []string // allowed values, if restricted
	// kInt, kInt64 and kFloat are int, int64 or float64 flags (their type
	// shown in the help) whose Go value is sent when the flag is given;
	// with positive, only a value above 0 is sent. kBool is a bool flag
	// (--x, --x=true, --x=false; anything else is refused).
	positive bool
}

// The quantities several job commands take: one flag type and one help
// text each, on every command (TestSharedFlags). A command sets the body
// field where it differs (with).
var (
	qWidth     = fieldFlag{flag: "width", field: "width", kind: kInt, positive: true, usage: "width in pixels"}
	qHeight    = fieldFlag{flag: "height", field: "height", kind: kInt, positive: true, usage: "height in pixels"}
	qSeed      = fieldFlag{flag: "seed", field: "seed", kind: kInt64, usage: "seed (default random)"}
	qSteps     = fieldFlag{flag: "steps", field: "num_inference_steps", kind: kInt, positive: true, usage: "number of inference steps (num_inference_steps)"}
	qGuidance  = fieldFlag{flag: "guidance", field: "guidance_scale", kind: kFloat, positive: true, usage: "how closely to follow the prompt (guidance_scale)"}
	qDuration  = fieldFlag{flag: "duration", field: "duration", kind: kFloat, positive: true, usage: "length in seconds"}
	qNegPrompt = fieldFlag{flag: "negative-prompt", short: "n", field: "negative_prompt", usage: "what to keep out"}
)

// with is ff with its body field (and usage, if given) changed.
func (ff fieldFlag) with(field string, usage ...string) fieldFlag {
	ff.field = field
	if len(usage) > 0 {
		ff.usage = usage[0]
	}
	return ff
}

// numeric reports whether the flag is a number (a typed flag).
func (ff fieldFlag) numeric() bool { return ff.kind == kInt || ff.kind == kInt64 || ff.kind == kFloat }

// inputAliases are the two spellings of an input: a command with one of
// them also takes the other, as a hidden alias.
var inputAliases = [][2]string{{"init-image", "image"}, {"init-video", "video"}, {"init-audio", "audio"}}

// aliasNormalizer maps the other spelling of each input flag of fl to the
// one fl defines (see inputAliases).
func aliasNormalizer(fl *pflag.FlagSet) func(*pflag.FlagSet, string) pflag.NormalizedName {
	alias := map[string]string{}
	for _, p := range inputAliases {
		switch a, b := fl.Lookup(p[0]) != nil, fl.Lookup(p[1]) != nil; {
		case a && !b:
			alias[p[1]] = p[0]
		case b && !a:
			alias[p[0]] = p[1]
		}
	}
	return func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if c, ok := alias[name]; ok {
			return pflag.NormalizedName(c)
		}
		return pflag.NormalizedName(name)
	}
}

// jobSpec declares a job command: its positional argument, its typed
// flags and how the flags choose the catalogue endpoint. Every job command
// shares JobOptions and the runJob spine.
type jobSpec struct {
	use, short, long, example string
	argField                  string // body field of the positional argument ("" = not sent)
	argName                   string // e.g. PROMPT ("" = no positional argument)
	argOptional               bool
	argCount                  string        // how the arity error counts it: "one" unless set ("exactly one")
	promptArg                 bool          // a second, optional positional argument: the prompt (edit OPERATION [PROMPT])
	timeout                   time.Duration // default --timeout
	flags                     []fieldFlag
	endpoint                  func(o *JobCmdOptions) (string, error)
	validate                  func(o *JobCmdOptions) error // not with --batch (lines may fill what it checks)
	flagCheck                 func(o *JobCmdOptions) error // checks of flags alone, also with --batch
	// adjust, if set, edits the body once the endpoint is known (for
	// flags whose field depends on it).
	adjust func(o *JobCmdOptions, ep api.Endpoint, body map[string]any)
	// v7, if set, is the v7 catalogue row for the flags given (an error
	// when they name a v6-only endpoint). With both endpoint and v7 the
	// command routes by model (see route) and has --api; with v7 alone it
	// is a v7 command.
	v7 func(o *JobCmdOptions) (string, error)
	// prefer, if set, names the API some flags imply (and why), before
	// the model is looked at: video --init-video is v7.
	prefer func(o *JobCmdOptions) (v, why string)
	// path is the command's name after mlab when it is a subcommand
	// ("song extend"); "" means the first word of use.
	path string
	// transcript: the job's output is a text file whose text is the
	// result (stt): printed on stdout, and under "text" with --json.
	transcript bool
}

// name is the command's name as typed after mlab, e.g. "img" or "song
// extend".
func (spec *jobSpec) name() string {
	if spec.path != "" {
		return spec.path
	}
	name, _, _ := strings.Cut(spec.use, " ")
	return name
}

// JobCmdOptions are the parsed flags of a spec-built job command.
type JobCmdOptions struct {
	f       *Factory
	spec    *jobSpec
	Job     JobOptions
	Arg     string
	values  map[string]*string   // flag name → value for scalar kinds
	lists   map[string]*[]string // flag name → values for kStrings
	typed   map[string]any       // flag name → *int, *int64 or *float64 for typed flags
	changed map[string]bool
	apiFlag string // --api: auto, v6 or v7
}

// set reports whether a flag was given (or has a default that is sent),
// or its field was given with -F/-f (so that -F init_image=... picks the
// endpoint --init-image would).
func (o *JobCmdOptions) set(flag string) bool {
	if o.changed[flag] {
		return true
	}
	for _, ff := range o.spec.flags {
		if ff.flag == flag {
			return ff.def != "" || (ff.field != "" && o.fieldGiven(ff.field))
		}
	}
	return false
}

// fieldGiven reports whether -F or -f sets the body field name.
func (o *JobCmdOptions) fieldGiven(name string) bool {
	for _, kv := range append(append([]string(nil), o.Job.Fields...), o.Job.RawFields...) {
		if k, _, ok := strings.Cut(kv, "="); ok && strings.TrimSpace(k) == name {
			return true
		}
	}
	return false
}

func (o *JobCmdOptions) value(flag string) string {
	if v, ok := o.values[flag]; ok {
		return *v
	}
	return ""
}

func newJobCmd(f *Factory, spec *jobSpec, runF func(context.Context, *JobCmdOptions) error) *cobra.Command {
	opts := &JobCmdOptions{f: f, spec: spec, values: map[string]*string{}, lists: map[string]*[]string{}, typed: map[string]any{}, changed: map[string]bool{}}
	cmd := &cobra.Command{
		Use:     spec.use,
		Short:   spec.short,
		Long:    spec.long + "\n\n" + exitCodesHelp,
		Example: spec.example,
		Args: func(cmd *cobra.Command, args []string) error {
			max := 0
			if spec.argName != "" {
				max = 1
			}
			if spec.promptArg && len(args) == 2 {
				return nil
			}
			if len(args) > max || (max == 1 && !spec.argOptional && len(args) == 0 && opts.Job.Batch == "") {
				if max == 0 {
					return flagErrorf("mlab %s takes no arguments, got %d", spec.name(), len(args))
				}
				if spec.promptArg {
					return flagErrorf("mlab %s takes %s and at most one PROMPT (quote it), got %d arguments", spec.name(), spec.argName, len(args))
				}
				return flagErrorf("mlab %s takes %s %s argument (quote it), got %d", spec.name(), cmp.Or(spec.argCount, "one"), spec.argName, len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.Flags().Visit(func(fl *pflag.Flag) { opts.changed[fl.Name] = true })
			if err := opts.check(args); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runJobCmd(cmd.Context(), opts)
		},
	}
	addSpecFlags(cmd, opts)
	if spec.endpoint != nil && spec.v7 != nil {
		cmd.Flags().StringVar(&opts.apiFlag, "api", "auto", "ModelsLab API: auto (by --model, see mlab help models), v6 or v7")
		_ = cmd.RegisterFlagCompletionFunc("api", cobra.FixedCompletions([]string{"auto", "v6", "v7"}, cobra.ShellCompDirectiveNoFileComp))
	}
	if cmd.Flags().Lookup("model") != nil {
		_ = cmd.RegisterFlagCompletionFunc("model", func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
			return modelNames(f, prefix), cobra.ShellCompDirectiveNoFileComp
		})
	}
	addJobFlags(cmd, &opts.Job)
	if spec.transcript {
		// The transcript is the result: waiting for it is the point
		// (--wait=false submits only).
		opts.Job.Wait = true
		cmd.Flags().Lookup("wait").DefValue = "true"
	}
	if spec.timeout > 0 {
		opts.Job.Timeout = spec.timeout
		cmd.Flags().Lookup("timeout").DefValue = spec.timeout.String()
	}
	return cmd
}

// check validates the argument and the flags (usage errors exit 2).
func (o *JobCmdOptions) check(args []string) error {
	spec := o.spec
	if len(args) >= 1 {
		o.Arg = args[0]
		if strings.TrimSpace(o.Arg) == "" {
			return flagErrorf("the %s is empty", strings.ToLower(spec.argName))
		}
	}
	if len(args) == 2 {
		if o.changed["prompt"] {
			return flagErrorf("give the prompt once: as the PROMPT argument or with --prompt, not both")
		}
		*o.values["prompt"], o.changed["prompt"] = args[1], true
	}
	for _, ff := range spec.flags {
		if v := o.value(ff.flag); len(ff.choices) > 0 && (o.changed[ff.flag] || ff.def != "") && !contains(ff.choices, v) {
			if c := closest(v, ff.choices); c != "" {
				return flagErrorf("--%s %q: did you mean %s?", ff.flag, v, c)
			}
			return flagErrorf("--%s must be one of %s", ff.flag, strings.Join(ff.choices, ", "))
		}
	}
	switch o.apiFlag {
	case "", "auto", "v6", "v7":
	default:
		return flagErrorf("--api must be auto, v6 or v7")
	}
	if spec.flagCheck != nil {
		if err := spec.flagCheck(o); err != nil {
			return err
		}
	}
	if spec.validate != nil && o.Job.Batch == "" {
		if err := spec.validate(o); err != nil {
			return err
		}
	}
	return o.Job.validate()
}

// addFlags defines the spec's field flags.
func (o *JobCmdOptions) addFlags(fl *pflag.FlagSet) {
	for _, ff := range o.spec.flags {
		if ff.numeric() {
			o.typed[ff.flag] = typedFlag(fl, ff)
			continue
		}
		if ff.kind == kStrings {
			var v []string
			o.lists[ff.flag] = &v
			fl.StringSliceVarP(&v, ff.flag, ff.short, nil, ff.usage)
			continue
		}
		var v string
		o.values[ff.flag] = &v
		usage := ff.usage
		if len(ff.choices) > 0 {
			usage += " (" + strings.Join(ff.choices, "|") + ")"
		}
		if ff.kind == kBool {
			fl.VarPF(&boolText{&v}, ff.flag, ff.short, usage).NoOptDefVal = "true"
			continue
		}
		fl.StringVarP(&v, ff.flag, ff.short, ff.def, usage)
	}
	fl.SetNormalizeFunc(aliasNormalizer(fl))
	if o.spec.promptArg {
		_ = fl.MarkHidden("prompt") // the PROMPT argument's other spelling
	}
}

// boolText is a kBool flag's value: a bool flag whose value is kept as
// the text "true" or "false" ("" when not given).
type boolText struct{ v *string }

func (b *boolText) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*b.v = strconv.FormatBool(v)
	return nil
}

func (b *boolText) String() string   { return *b.v }
func (b *boolText) Type() string     { return "bool" }
func (b *boolText) IsBoolFlag() bool { return true }

// typedFlag defines a typed flag and returns where its value lands.
func typedFlag(fl *pflag.FlagSet, ff fieldFlag) any {
	switch ff.kind {
	case kInt64:
		return fl.Int64P(ff.flag, ff.short, 0, ff.usage)
	case kFloat:
		return fl.Float64P(ff.flag, ff.short, 0, ff.usage)
	}
	return fl.IntP(ff.flag, ff.short, 0, ff.usage)
}

// typedValue is a typed flag's value and whether it is sent.
func (o *JobCmdOptions) typedValue(ff fieldFlag) (any, bool) {
	var v any
	var positive bool
	switch p := o.typed[ff.flag].(type) {
	case *int:
		v, positive = *p, *p > 0
	case *int64:
		v, positive = *p, *p > 0
	case *float64:
		v, positive = *p, *p > 0
	}
	if ff.positive {
		return v, positive
	}
	return v, o.changed[ff.flag]
}

// endpoint is the catalogue endpoint the flags choose.
func (o *JobCmdOptions) endpoint() (string, error) { return o.spec.endpoint(o) }

// body builds the request body for API version v ("v6" or "v7"): the
// positional argument, typed flags, then -F/-f (the most explicit source
// wins). The defaults of a command that routes by model are v6 values (a
// v6 model, voice, language): routed to v7, only what was given is sent.
func (o *JobCmdOptions) body(v string) (map[string]any, error) {
	b := map[string]any{}
	if o.spec.argField != "" && o.Arg != "" {
		b[o.spec.argField] = o.Arg
	}
	for _, ff := range o.spec.flags {
		if ff.numeric() {
			if v, send := o.typedValue(ff); send && ff.field != "" {
				b[ff.field] = v
			}
			continue
		}
		if ff.field == "" || !(o.changed[ff.flag] || ff.def != "") || (v == "v7" && o.spec.endpoint != nil && !o.changed[ff.flag]) {
			continue
		}
		if ff.kind == kStrings {
			if vs := *o.lists[ff.flag]; len(vs) > 0 {
				b[ff.field] = append([]string(nil), vs...)
			}
			continue
		}
		raw := o.value(ff.flag)
		switch ff.kind {
		case kString:
			b[ff.field] = raw
		case kFile:
			data, err := os.ReadFile(raw)
			if err != nil {
				return nil, flagErrorf("--%s: %v", ff.flag, unwrapPathError(err))
			}
			b[ff.field] = strings.TrimRight(string(data), "\n")
		case kBool:
			b[ff.field] = raw == "true"
		}
	}
	extra, err := parseFields(o.Job.Fields, o.Job.RawFields, o.f.IO.In)
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		b[k] = v
	}
	return b, nil
}

func runJobCmd(ctx context.Context, o *JobCmdOptions) error {
	ep, body, err := o.request()
	if err != nil {
		return err
	}
	o.Job.transcript = o.spec.transcript
	if o.spec.endpoint != nil && o.spec.v7 != nil && (o.apiFlag == "" || o.apiFlag == "auto") {
		// A --batch line with its own model_id goes where that model
		// belongs.
		o.Job.lineEndpoint = func(model string) (api.Endpoint, error) {
			v, why, err := o.routeModel(model)
			if err != nil {
				return api.Endpoint{}, err
			}
			choose := o.spec.endpoint
			if v == "v7" {
				choose = o.spec.v7
			}
			name, err := choose(o)
			if err != nil {
				return api.Endpoint{}, err
			}
			if w := o.f.DebugWriter(); w != nil {
				fmt.Fprintf(w, "route: %s\n", why)
			}
			ep, ok := api.Lookup(name)
			if !ok {
				return api.Endpoint{}, fmt.Errorf("endpoint %s is not in the catalogue", name)
			}
			return ep, nil
		}
	}
	return runJob(ctx, o.f, &o.Job, &runner.Job{Endpoint: ep, Body: body}, o.spec.argField)
}

// request routes the command (see route) and builds the endpoint's body.
func (o *JobCmdOptions) request() (api.Endpoint, map[string]any, error) {
	v, why, err := o.route()
	if err != nil {
		return api.Endpoint{}, nil, err
	}
	if w := o.f.DebugWriter(); w != nil {
		fmt.Fprintf(w, "route: %s\n", why)
	}
	choose := o.spec.endpoint
	if v == "v7" {
		choose = o.spec.v7
	}
	name, err := choose(o)
	if err != nil {
		return api.Endpoint{}, nil, err
	}
	ep, ok := api.Lookup(name)
	if !ok {
		return api.Endpoint{}, nil, fmt.Errorf("endpoint %s is not in the catalogue", name)
	}
	body, err := o.body(v)
	if err != nil {
		return api.Endpoint{}, nil, err
	}
	if o.spec.adjust != nil {
		o.spec.adjust(o, ep, body)
	}
	return ep, body, nil
}

// model is the model_id the command sends: -F model_id, else --model.
func (o *JobCmdOptions) model() string {
	for _, kv := range o.Job.Fields {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.TrimSpace(k) == "model_id" {
			return strings.TrimSpace(v)
		}
	}
	return strings.TrimSpace(o.value("model"))
}

// route picks the API version of the job and says why (for --debug): a v6
// or v7 command has one; a command with both follows --api, else the
// model's family in the model table (built in, refreshed by mlab models),
// else the command's default, v6.
func (o *JobCmdOptions) route() (v, why string, err error) {
	name := o.spec.name()
	switch {
	case o.spec.v7 == nil:
		if o.apiFlag == "v7" {
			return "", "", flagErrorf("mlab %s has no v7 endpoint", name)
		}
		return "v6", "mlab " + name + " runs on v6", nil
	case o.spec.endpoint == nil:
		return "v7", "mlab " + name + " runs on v7", nil
	case o.apiFlag == "v6" || o.apiFlag == "v7":
		return o.apiFlag, "--api " + o.apiFlag, nil
	}
	if o.spec.prefer != nil {
		if v, why := o.spec.prefer(o); v != "" {
			return v, why, nil
		}
	}
	return o.routeModel(o.model())
}

// routeModel is route's model step for model (also used per --batch line
// that names its own model_id).
func (o *JobCmdOptions) routeModel(model string) (v, why string, err error) {
	name := o.spec.name()
	if model == "" {
		return "v6", "no model given: v6, the default of mlab " + name, nil
	}
	v, source, known := o.f.Router().Route(model)
	if known {
		return v, fmt.Sprintf("model %s is a %s model (%s)", output.Safe(model), v, source), nil
	}
	return "v6", fmt.Sprintf("model %s is not in the model table: v6, the default of mlab %s (--api v7 sends it to v7; mlab models refreshes the table)", output.Safe(model), name), nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// fixed returns an endpoint chooser that always picks name.
func fixed(name string) func(*JobCmdOptions) (string, error) {
	return func(*JobCmdOptions) (string, error) { return name, nil }
}
