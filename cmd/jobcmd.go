package cmd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
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
)

// fieldFlag binds one flag to one body field.
type fieldFlag struct {
	flag, short, field, usage string
	kind                      fieldKind
	def                       string   // default (as text); sent even when the flag is not given
	choices                   []string // allowed values, if restricted
}

// jobSpec declares a job command: its positional argument, its typed
// flags and how the flags choose the catalogue endpoint. Every job command
// shares JobOptions and the runJob spine.
type jobSpec struct {
	use, short, long, example string
	argField                  string // body field of the positional argument ("" = not sent)
	argName                   string // e.g. PROMPT ("" = no positional argument)
	argOptional               bool
	timeout                   time.Duration // default --timeout
	flags                     []fieldFlag
	endpoint                  func(o *JobCmdOptions) (string, error)
	validate                  func(o *JobCmdOptions) error
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
	opts := &JobCmdOptions{f: f, spec: spec, values: map[string]*string{}, lists: map[string]*[]string{}, changed: map[string]bool{}}
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
				return flagErrorf("mlab %s takes one %s argument (quote it), got %d", cmd.Name(), spec.argName, len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Arg = args[0]
				if strings.TrimSpace(opts.Arg) == "" {
					return flagErrorf("the %s is empty", strings.ToLower(spec.argName))
				}
			}
			cmd.Flags().Visit(func(fl *pflag.Flag) { opts.changed[fl.Name] = true })
			for _, ff := range spec.flags {
				if len(ff.choices) > 0 && opts.set(ff.flag) && !contains(ff.choices, opts.value(ff.flag)) {
					return flagErrorf("--%s must be one of %s", ff.flag, strings.Join(ff.choices, ", "))
				}
			}
			if spec.validate != nil && opts.Job.Batch == "" {
				if err := spec.validate(opts); err != nil {
					return err
				}
			}
			if err := opts.Job.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runJobCmd(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	for _, ff := range spec.flags {
		if ff.kind == kStrings {
			var v []string
			opts.lists[ff.flag] = &v
			fl.StringSliceVarP(&v, ff.flag, ff.short, nil, ff.usage)
			continue
		}
		var v string
		opts.values[ff.flag] = &v
		usage := ff.usage
		if len(ff.choices) > 0 {
			usage += " (" + strings.Join(ff.choices, "|") + ")"
		}
		if ff.kind == kBool {
			fl.StringVarP(&v, ff.flag, ff.short, ff.def, usage)
			fl.Lookup(ff.flag).NoOptDefVal = "true"
			continue
		}
		fl.StringVarP(&v, ff.flag, ff.short, ff.def, usage)
	}
	addJobFlags(cmd, &opts.Job)
	if spec.timeout > 0 {
		opts.Job.Timeout = spec.timeout
		fl.Lookup("timeout").DefValue = spec.timeout.String()
	}
	return cmd
}

// body builds the request body: the positional argument, typed flags, then
// -F/-f (the most explicit source wins).
func (o *JobCmdOptions) body() (map[string]any, error) {
	b := map[string]any{}
	if o.spec.argField != "" && o.Arg != "" {
		b[o.spec.argField] = o.Arg
	}
	for _, ff := range o.spec.flags {
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
			v, err := typedValue(raw, nil)
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
	name, err := o.spec.endpoint(o)
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
	return runJob(ctx, &jobRun{f: o.f, opts: &o.Job, ep: ep, body: body, argField: o.spec.argField})
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
