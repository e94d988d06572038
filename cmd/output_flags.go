package cmd

import (
	"errors"
	"runtime"
	"sync"
	"weak"

	"github.com/mlabcli/mlab/internal/jsonfilter"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// OutputFlags are the result and file flags every job command shares
// (issue 16): filters of the printed result and how downloaded files are
// named and kept.
type OutputFlags struct {
	JQ       string // --jq EXPR (implies --json)
	Template string // --template TMPL (implies --json)
	Quiet    bool   // -q/--quiet: ids, URLs or paths only

	Name         string // --name TEMPLATE for downloaded files
	Overwrite    bool   // --overwrite: replace a file of the same name
	SkipExisting bool   // --skip-existing: keep it, report it as the file
	Open         bool   // --open: open the result in the desktop's viewer
	Preview      bool   // --preview: an inline thumbnail on stderr

	filter      *jsonfilter.Filter   // --jq or --template, compiled
	name        *output.NameTemplate // --name, parsed
	impliedJSON bool                 // --json was set by --jq/--template
	files       bool                 // the file flags are defined (addOutputFlags)

	// launch starts the desktop's viewer (--open); nil: the real one.
	// Tests set it: they never launch anything.
	launch func(name string, args ...string) error
}

// FilterError is a --jq or --template that failed on the data it was
// given (a compile error is a usage error, found while the flags are
// parsed, before anything runs). It exits 4, like any other failure to
// write the output: 2 would say that nothing ran, and 1 that the job
// failed, when the job may well have succeeded (and been paid for).
type FilterError = jsonfilter.Error

// addOutputFlags defines the OutputFlags on fl: the filters, -q, and the
// file flags of a command that downloads (-o).
func addOutputFlags(fl *pflag.FlagSet, o *OutputFlags) {
	addFilterFlags(fl, o)
	addQuietFlag(fl, o, "print only the job's file paths (with -o), else its output URLs, else its id; one per line, nothing on stderr but warnings and errors")
	o.files = true
	fl.Var(&nameValue{o: o}, "name", "name downloaded files from `TEMPLATE`: {id}, {line}, {prompt} (slugged), {n} (1, 2, ...), {ext} (default: the URL's file name)")
	fl.BoolVar(&o.Overwrite, "overwrite", false, "replace a file of the same name in the -o directory")
	fl.BoolVar(&o.SkipExisting, "skip-existing", false, "keep a file of the same name in the -o directory and report it as the output (nothing downloaded)")
	fl.BoolVar(&o.Open, "open", false, "open the result in the desktop's viewer (on a terminal only, never in CI)")
	fl.BoolVar(&o.Preview, "preview", false, "show a thumbnail of an image result on stderr (kitty, iTerm2, WezTerm, Ghostty or a sixel terminal)")
}

// addFilterFlags defines --jq and --template on a command with --json.
// Either implies --json.
func addFilterFlags(fl *pflag.FlagSet, o *OutputFlags) {
	fl.Var(&filterValue{o: o, fl: fl, jq: true}, "jq", "filter the JSON output with a jq `EXPRESSION` (implies --json; strings print raw, one value per line)")
	fl.Var(&filterValue{o: o, fl: fl}, "template", "format the JSON output with a Go `TEMPLATE` (implies --json; helpers: json, join, pluck, truncate, timefmt, timeago, upper, lower, safe)")
}

// addQuietFlag defines -q/--quiet with the command's own help.
func addQuietFlag(fl *pflag.FlagSet, o *OutputFlags, usage string) {
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, usage)
}

// filterValue is --jq or --template: compiled when parsed, so a bad one
// is a usage error (exit 2) before anything is submitted.
type filterValue struct {
	o  *OutputFlags
	fl *pflag.FlagSet
	jq bool
}

func (v *filterValue) String() string {
	if v.jq {
		return v.o.JQ
	}
	return v.o.Template
}

func (v *filterValue) Type() string {
	if v.jq {
		return "expression"
	}
	return "template"
}

func (v *filterValue) Set(s string) error {
	var (
		jf  *jsonfilter.Filter
		err error
	)
	if v.jq {
		if v.o.Template != "" {
			return errors.New("--jq and --template both format the output: pick one")
		}
		jf, err = jsonfilter.CompileJQ(s)
		v.o.JQ = s
	} else {
		if v.o.JQ != "" {
			return errors.New("--jq and --template both format the output: pick one")
		}
		jf, err = jsonfilter.CompileTemplate(s)
		v.o.Template = s
	}
	if err != nil {
		return err
	}
	v.o.filter = jf
	// --jq and --template imply --json, as in gh.
	if j := v.fl.Lookup("json"); j != nil && j.Value.String() != "true" {
		if err := v.fl.Set("json", "true"); err != nil {
			return err
		}
		v.o.impliedJSON = true
	}
	return nil
}

// nameValue is --name, parsed when given.
type nameValue struct{ o *OutputFlags }

func (v *nameValue) String() string { return v.o.Name }
func (v *nameValue) Type() string   { return "template" }
func (v *nameValue) Set(s string) error {
	t, err := output.ParseNameTemplate(s)
	if err != nil {
		return err
	}
	v.o.Name, v.o.name = s, t
	return nil
}

// outputFlagsOf returns the OutputFlags of a command (nil: it has none):
// every command with them has --jq.
func outputFlagsOf(cmd *cobra.Command) *OutputFlags {
	if fl := cmd.Flags().Lookup("jq"); fl != nil {
		if v, ok := fl.Value.(*filterValue); ok {
			return v.o
		}
	}
	return nil
}

// check refuses the combinations that do nothing or contradict each other
// (usage errors, exit 2), once the command line is parsed.
func (o *OutputFlags) check(fl *pflag.FlagSet) error {
	jsonSet := false
	if j := fl.Lookup("json"); j != nil && j.Value.String() == "true" && !o.impliedJSON {
		jsonSet = true
	}
	switch {
	case o.Quiet && o.filter != nil:
		return flagErrorf("-q prints ids or paths, %s formats the JSON: pick one", o.filter.Flag())
	case o.Quiet && jsonSet:
		return flagErrorf("-q prints ids or paths, --json prints JSON: pick one")
	case o.Overwrite && o.SkipExisting:
		return flagErrorf("--overwrite replaces a file of the same name, --skip-existing keeps it: pick one")
	}
	if !o.files {
		return nil
	}
	dir := ""
	if d := fl.Lookup("output-dir"); d != nil {
		dir = d.Value.String()
	}
	if dir == "" {
		for _, f := range []struct {
			name string
			on   bool
		}{{"--name", o.Name != ""}, {"--overwrite", o.Overwrite}, {"--skip-existing", o.SkipExisting}} {
			if f.on {
				return flagErrorf("%s names or keeps downloaded files: it goes with -o DIR", f.name)
			}
		}
	}
	return nil
}

// running holds the OutputFlags of the command each Factory runs, set by
// applyOutputFlags (root's PersistentPreRunE). An entry goes with its
// Factory (a cleanup when the Factory is collected), so tests that make
// many leave nothing behind.
var running sync.Map // weak.Pointer[Factory] → *OutputFlags

// applyOutputFlags checks the running command's OutputFlags and makes them
// the ones f prints with. Commands without them print as they always did.
func applyOutputFlags(f *Factory, cmd *cobra.Command) error {
	key := weak.Make(f)
	o := outputFlagsOf(cmd)
	if o == nil {
		running.Delete(key)
		return nil
	}
	if err := o.check(cmd.Flags()); err != nil {
		return err
	}
	if _, loaded := running.Swap(key, o); !loaded {
		runtime.AddCleanup(f, func(k weak.Pointer[Factory]) { running.Delete(k) }, key)
	}
	return nil
}

// outputFlags returns the OutputFlags of the command f runs (nil: none,
// which prints plainly).
func (f *Factory) outputFlags() *OutputFlags {
	if v, ok := running.Load(weak.Make(f)); ok {
		return v.(*OutputFlags)
	}
	return nil
}

func (o *OutputFlags) quiet() bool { return o != nil && o.Quiet }

// jsonFilter returns the compiled --jq/--template (nil: none).
func (o *OutputFlags) jsonFilter() *jsonfilter.Filter {
	if o == nil {
		return nil
	}
	return o.filter
}

// Existing is how downloads treat a file of the same name in -o DIR.
func (o *OutputFlags) existing() output.Existing {
	switch {
	case o == nil:
		return output.ExistingRename
	case o.Overwrite:
		return output.ExistingOverwrite
	case o.SkipExisting:
		return output.ExistingSkip
	}
	return output.ExistingRename
}

// download completes the download options of one job's files with the
// file flags: how they are named (--name, from the job runner's
// description of the job) and what happens to a file of the same name.
func (o *OutputFlags) download(base output.DownloadOptions, d runner.DownloadOptions) output.DownloadOptions {
	base.Existing = o.existing()
	base.Job = output.NameVars{ID: d.ID, TrackID: d.TrackID, Prompt: d.Prompt, Endpoint: d.Endpoint, Line: d.Line}
	if o != nil {
		base.Name = o.name
	}
	return base
}
