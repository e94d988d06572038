package cmd

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
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
	// typed makes kInt, kInt64 and kFloat a cobra int, int64 or float64
	// flag (its type shown in the help) whose Go value is sent when the
	// flag is given; with positive, only a value above 0 is sent.
	typed, positive bool
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
	timeout                   time.Duration // default --timeout
	flags                     []fieldFlag
	endpoint                  func(o *JobCmdOptions) (string, error)
	validate                  func(o *JobCmdOptions) error // not with --batch (lines may fill what it checks)
	flagCheck                 func(o *JobCmdOptions) error // checks of flags alone, also with --batch
	// adjust, if set, edits the body once the endpoint is known (for
	// flags whose field depends on it).
	adjust func(o *JobCmdOptions, ep api.Endpoint, body map[string]any)
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
}

// set reports whether a flag was given (or has a default that is sent).
func (o *JobCmdOptions) set(flag string) bool {
	if o.changed[flag] {
		return true
	}
	for _, ff := range o.spec.flags {
		if ff.flag == flag {
			return ff.def != ""
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
			if len(args) > max || (max == 1 && !spec.argOptional && len(args) == 0 && opts.Job.Batch == "") {
				if max == 0 {
					return flagErrorf("mlab %s takes no arguments, got %d", cmd.Name(), len(args))
				}
				return flagErrorf("mlab %s takes %s %s argument (quote it), got %d", cmd.Name(), cmp.Or(spec.argCount, "one"), spec.argName, len(args))
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
	opts.addFlags(cmd.Flags())
	addJobFlags(cmd, &opts.Job)
	if spec.timeout > 0 {
		opts.Job.Timeout = spec.timeout
		cmd.Flags().Lookup("timeout").DefValue = spec.timeout.String()
	}
	return cmd
}

// check validates the argument and the flags (usage errors exit 2).
func (o *JobCmdOptions) check(args []string) error {
	spec := o.spec
	if len(args) == 1 {
		o.Arg = args[0]
		if strings.TrimSpace(o.Arg) == "" {
			return flagErrorf("the %s is empty", strings.ToLower(spec.argName))
		}
	}
	for _, ff := range spec.flags {
		if len(ff.choices) > 0 && o.set(ff.flag) && !contains(ff.choices, o.value(ff.flag)) {
			return flagErrorf("--%s must be one of %s", ff.flag, strings.Join(ff.choices, ", "))
		}
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
		if ff.typed {
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
		fl.StringVarP(&v, ff.flag, ff.short, ff.def, usage)
		if ff.kind == kBool {
			fl.Lookup(ff.flag).NoOptDefVal = "true"
		}
	}
}

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

// body builds the request body: the positional argument, typed flags, then
// -F/-f (the most explicit source wins).
func (o *JobCmdOptions) body() (map[string]any, error) {
	b := map[string]any{}
	if o.spec.argField != "" && o.Arg != "" {
		b[o.spec.argField] = o.Arg
	}
	for _, ff := range o.spec.flags {
		if ff.typed {
			if v, send := o.typedValue(ff); send && ff.field != "" {
				b[ff.field] = v
			}
			continue
		}
		if ff.field == "" || !o.set(ff.flag) {
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
		case kInt, kFloat, kBool:
			v, err := fieldValue(raw, nil)
			if err != nil {
				return nil, flagErrorf("--%s: %v", ff.flag, err)
			}
			if s, isText := v.(string); isText {
				return nil, flagErrorf("--%s %q: want a %s", ff.flag, s, kindName(ff.kind))
			}
			if _, isBool := v.(bool); isBool != (ff.kind == kBool) {
				return nil, flagErrorf("--%s %q: want a %s", ff.flag, raw, kindName(ff.kind))
			}
			b[ff.field] = v
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

func kindName(k fieldKind) string {
	switch k {
	case kInt:
		return "whole number"
	case kFloat:
		return "number"
	case kBool:
		return "true or false"
	}
	return "value"
}

func runJobCmd(ctx context.Context, o *JobCmdOptions) error {
	name, err := o.endpoint()
	if err != nil {
		return err
	}
	ep, ok := api.Lookup(name)
	if !ok {
		return fmt.Errorf("endpoint %s is not in the catalogue", name)
	}
	body, err := o.body()
	if err != nil {
		return err
	}
	if o.spec.adjust != nil {
		o.spec.adjust(o, ep, body)
	}
	return runJob(ctx, o.f, &o.Job, &runner.Job{Endpoint: ep, Body: body}, o.spec.argField)
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
