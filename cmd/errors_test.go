package cmd

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/config"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/links"
	"github.com/mlabcli/mlab/internal/models"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/tunnel"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestExitCodeFor(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flagErrorf("bad"), 2},
		{&ConfigError{Msg: "no key"}, 2},
		{wrap(tunnel.ErrNoAuthtoken), 2},
		{&FlagError{Err: errors.New(`unknown command "x" for "mlab"`)}, 2},
		{wrap(&job.FailedError{ID: "1", Response: &api.Response{Message: "boom"}}), 1},
		{wrap(&api.Error{Kind: api.KindRejected}), 1},
		{wrap(&api.Error{Kind: api.KindRejected, Refused: true}), 4},
		{wrap(&runner.StoppedError{ID: "1", Err: job.ErrTimeout}), 3},
		{wrap(&runner.StoppedError{ID: "1", Err: context.Canceled}), 130},
		{wrap(context.Canceled), 130},
		{wrap(&api.Error{Kind: api.KindAuth, HTTPStatus: 401}), 4},
		{wrap(&api.Error{Kind: api.KindCredits}), 4},
		{wrap(&api.Error{Kind: api.KindRateLimited}), 4},
		{wrap(&api.Error{Kind: api.KindServer}), 4},
		{wrap(&api.Error{Kind: api.KindNetwork}), 4},
		{wrap(&tunnel.Error{Mode: tunnel.ModeNgrok}), 4},
		{wrap(&tunnel.Error{Mode: tunnel.ModeNgrok, Err: context.Canceled}), 4},
		{&runner.DownloadError{Err: errors.New("404")}, 4},
		{quietExit(3, errors.New("x")), 3},
		{withHint(wrap(&api.Error{Kind: api.KindNetwork}), "try again"), 4},
		{wrap(&receiver.LocalError{Err: errors.New("address in use")}), 2},
		{errors.New("something else"), 4},
	}
	for _, c := range cases {
		if got := exitCodeFor(c.err); got != c.want {
			t.Errorf("exitCodeFor(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestHintFor: the hints that name flags are cmd's, not the engine's.
func TestHintFor(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("submit: %w", &api.Error{Kind: api.KindAuth, HTTPStatus: 401}), "--api-key"},
		{fmt.Errorf("open: %w", &receiver.LocalError{Err: errors.New("address already in use")}), "choose another --listen address"},
		{fmt.Errorf("open: %w", &tunnel.Error{Mode: tunnel.ModeNgrok, Hint: "check your network or firewall"}), "check your network or firewall; or use --tunnel none"},
		{&tunnel.Error{Mode: tunnel.ModeNgrok}, "use --tunnel none to poll for results"},
		{withHint(errors.New("x"), "resume with: mlab wait 1"), "resume with: mlab wait 1"},
		{&ConfigError{Msg: "m", Hint: "set X"}, "set X"},
	}
	for _, c := range cases {
		if got := hintFor(c.err); !strings.Contains(got, c.want) {
			t.Errorf("hintFor(%v) = %q, want %q in it", c.err, got, c.want)
		}
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

func stringReader(s string) io.Reader { return strings.NewReader(s) }

// errorPackages are the packages whose errors reach Run, by the name the
// contract table uses, and their directories.
var errorPackages = map[string]string{
	"cmd": ".", "api": "../internal/api", "runner": "../internal/runner", "receiver": "../internal/receiver",
	"tunnel": "../internal/tunnel", "job": "../internal/job", "output": "../internal/output",
	"config": "../internal/config", "journal": "../internal/journal", "models": "../internal/models", "links": "../internal/links",
}

// exitContract is every exported error type (…Error) and sentinel (Err…)
// of errorPackages, with the standard library's context and file errors,
// and the exit code each one means, alone and wrapped.
var exitContract = map[string]struct {
	err  error
	want int
}{
	"cmd.FlagError":             {flagErrorf("bad"), ExitUsage},
	"cmd.ConfigError":           {&ConfigError{Msg: "no key"}, ExitUsage},
	"cmd.ExitError":             {&ExitError{Err: errors.New("x"), Code: ExitTimeout}, ExitTimeout},
	"cmd.FilterError":           {&FilterError{Flag: "--jq", Err: errors.New("cannot iterate over null")}, ExitAPI},
	"api.Error":                 {&api.Error{Kind: api.KindServer}, ExitAPI},
	"api.InputError":            {&api.InputError{Field: "init_image", Path: "a.png", Err: fs.ErrNotExist}, ExitUsage},
	"api.ErrTooLarge":           {api.ErrTooLarge, ExitUsage},
	"runner.FailedError":        {&runner.FailedError{ID: "1", Response: &api.Response{}}, ExitFailed},
	"runner.DownloadError":      {&runner.DownloadError{Err: errors.New("404")}, ExitAPI},
	"runner.StoppedError":       {&runner.StoppedError{ID: "1", Err: runner.ErrTimeout}, ExitTimeout},
	"runner.SubmitUnknownError": {&runner.SubmitUnknownError{Err: runner.ErrNoAnswer}, ExitAPI},
	"runner.SandboxGoneError":   {&runner.SandboxGoneError{Addr: "127.0.0.1:1"}, ExitUsage},
	"runner.OtherAPIError":      {&runner.OtherAPIError{Recorded: "a", Configured: "b"}, ExitUsage},
	"runner.ErrTimeout":         {runner.ErrTimeout, ExitTimeout},
	"runner.ErrNoAnswer":        {runner.ErrNoAnswer, ExitAPI},
	"receiver.TunnelError":      {&receiver.TunnelError{Mode: tunnel.ModeNgrok}, ExitAPI},
	"receiver.LocalError":       {&receiver.LocalError{Err: errors.New("address in use")}, ExitUsage},
	"receiver.ErrNoAuthtoken":   {receiver.ErrNoAuthtoken, ExitUsage},
	"tunnel.Error":              {&tunnel.Error{Mode: tunnel.ModeNgrok, Err: context.Canceled}, ExitAPI},
	"tunnel.ErrNoAuthtoken":     {tunnel.ErrNoAuthtoken, ExitUsage},
	"tunnel.ErrConnectTimeout":  {tunnel.ErrConnectTimeout, ExitAPI},
	"job.FailedError":           {&job.FailedError{ID: "1", Response: &api.Response{Message: "boom"}}, ExitFailed},
	"job.ErrTimeout":            {job.ErrTimeout, ExitTimeout},
	"output.DownloadError":      {&output.DownloadError{URL: "u", Err: errors.New("reset")}, ExitAPI},
	"output.TooLargeError":      {&output.TooLargeError{}, ExitAPI},
	"output.ErrorPageError":     {&output.ErrorPageError{ContentType: "text/html"}, ExitAPI},
	"output.ErrLinkExpired":     {output.ErrLinkExpired, ExitAPI},
	"config.UnknownKeyError":    {&config.UnknownKeyError{Key: "x"}, ExitUsage},
	"journal.ErrNotFound":       {journal.ErrNotFound, ExitUsage},
	"journal.ErrNoPlan":         {journal.ErrNoPlan, ExitUsage},
	"journal.ErrClosed":         {journal.ErrClosed, ExitAPI},
	"models.ResponseError":      {&models.ResponseError{Message: "x"}, ExitAPI},
	"models.ErrNotFound":        {models.ErrNotFound, ExitUsage},
	"models.ErrUnknownShape":    {models.ErrUnknownShape, ExitAPI},
	"models.ErrNotJSON":         {models.ErrNotJSON, ExitAPI},
	"links.ThrottledError":      {&links.ThrottledError{Status: 429}, ExitAPI},
	"links.ErrNotProbeable":     {links.ErrNotProbeable, ExitAPI},
	"context.Canceled":          {context.Canceled, ExitInterrupted},
	"context.DeadlineExceeded":  {context.DeadlineExceeded, ExitAPI},
	"fs.PathError":              {&fs.PathError{Op: "open", Path: "x", Err: fs.ErrPermission}, ExitAPI},
	"fs.ErrNotExist":            {fs.ErrNotExist, ExitAPI},
	"errors.New":                {errors.New("unclassified"), ExitAPI},
	"pflag.InvalidValueError":   {pflagError("--width", "abc"), ExitUsage},
	"pflag.NotExistError":       {pflagError("--wiat"), ExitUsage},
}

// pflagError is pflag's own error for args (a command run without root's
// flag error function returns it).
func pflagError(args ...string) error {
	fl := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.Int("width", 0, "")
	return fl.Parse(args)
}

// TestExitContract: every error type maps to its code, alone and wrapped
// twice; an exported error type or sentinel of errorPackages without a
// row fails (add it to exitContract, and to exitCodeFor if it is not an
// API, network or I/O failure).
func TestExitContract(t *testing.T) {
	for name, c := range exitContract {
		for _, err := range []error{c.err, fmt.Errorf("a: %w", fmt.Errorf("b: %w", c.err))} {
			if got := exitCodeFor(err); got != c.want {
				t.Errorf("%s: exitCodeFor(%v) = %d, want %d", name, err, got, c.want)
			}
		}
	}
	for pkg, dir := range errorPackages {
		for _, name := range exportedErrors(t, dir) {
			if _, ok := exitContract[pkg+"."+name]; !ok {
				t.Errorf("%s.%s (in %s) has no row in exitContract: which exit code does it mean?", pkg, name, dir)
			}
		}
	}
	// The usage errors keep their code whatever else they wrap.
	if got := exitCodeFor(flagErrorf("x: %w", context.Canceled)); got != ExitUsage {
		t.Errorf("a usage error wrapping a context error: %d", got)
	}
}

// exportedErrors lists the exported error types (names ending in Error)
// and sentinels (names starting with Err) declared in dir's non-test files.
func exportedErrors(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				switch sp := spec.(type) {
				case *ast.TypeSpec:
					if sp.Name.IsExported() && strings.HasSuffix(sp.Name.Name, "Error") {
						names = append(names, sp.Name.Name)
					}
				case *ast.ValueSpec:
					for _, n := range sp.Names {
						if gd.Tok == token.VAR && n.IsExported() && strings.HasPrefix(n.Name, "Err") {
							names = append(names, n.Name)
						}
					}
				}
			}
		}
	}
	sort.Strings(names)
	return names
}

// TestSuggestions: a near miss gets the closest choice, a far one none.
func TestSuggestions(t *testing.T) {
	cases := []struct {
		v       string
		choices []string
		want    string
	}{
		{"wiat", []string{"wait", "webhook", "timeout"}, "wait"},
		{"text2imgg", []string{"text2img", "img2img", "text2video"}, "text2img"},
		{"removebg", []string{"removebg_mask", "outpaint"}, "removebg_mask"},
		{"vidoe", []string{"img", "video", "audio"}, "video"},
		{"prosessing", []string{"submitting", "processing", "success", "failed"}, "processing"},
		{"output", []string{"output-dir", "json"}, "output-dir"},
		{"zzzzzz", []string{"wait", "json"}, ""},
		{"x", []string{"wait", "json"}, ""},
	}
	for _, c := range cases {
		if got := closest(c.v, c.choices); got != c.want {
			t.Errorf("closest(%q) = %q, want %q", c.v, got, c.want)
		}
	}
}

// runLine runs one mlab command line in a test factory: its exit code,
// stdout and stderr.
func runLine(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	f, out, errOut := jobTestFactory(t, env)
	code := Run(context.Background(), f, args)
	return code, out.String(), errOut.String()
}

// TestUsageMessages: usage errors exit 2, say what was wrong once, in the
// same words on every command, and name the command's own help.
func TestUsageMessages(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	if err := writeFile(bad, "fine\n{\"prompt\": 5}\n[1, 2]\nfine too\n{\"prompt\": \n\"quoted\"\n"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want []string // in stderr, in order
	}{
		{[]string{"img", "x", "--wiat"}, []string{"unknown flag --wiat: did you mean --wait?", "hint: see 'mlab img --help'"}},
		{[]string{"video", "x", "--init-imag", "a.png"}, []string{"did you mean --init-image?"}},
		{[]string{"-v"}, []string{"did you mean --version?"}},
		{[]string{"imgg", "x"}, []string{`unknown command "imgg" for "mlab": did you mean img?`}},
		{[]string{"img", "x", "--width", "abc"}, []string{`invalid argument "abc" for "--width": want a whole number`}},
		{[]string{"video", "x", "--width", "abc"}, []string{`invalid argument "abc" for "--width": want a whole number`}},
		{[]string{"3d", "x", "--guidance", "lots"}, []string{`invalid argument "lots" for "--guidance": want a number`}},
		{[]string{"video", "x", "--ultra=maybe"}, []string{`invalid argument "maybe" for "--ultra": want true or false`}},
		{[]string{"train", "--images", "a.png", "--instance-prompt", "p", "--dreambooth=maybe"}, []string{`invalid argument "maybe" for "--dreambooth": want true or false`}},
		{[]string{"img", "x", "--timeout", "5"}, []string{`invalid argument "5" for "--timeout": want a duration with a unit: did you mean 5s?`}},
		{[]string{"wait", "1", "--timeout", "soon"}, []string{`for "--timeout": want a duration such as 90s, 30m, 2h or 1d`}},
		{[]string{"run", "text2imgg"}, []string{`unknown endpoint "text2imgg": did you mean text2img?`, "hint: see 'mlab run --help' for the endpoints"}},
		{[]string{"edit", "removebg", "--image", "https://e/a.png"}, []string{`unknown operation "removebg": did you mean removebg_mask?`}},
		{[]string{"wait", "1", "--kind", "vidoe"}, []string{`unknown --kind "vidoe": did you mean video?`}},
		{[]string{"video", "x", "--output-type", "mp5"}, []string{`--output-type "mp5": did you mean mp4?`}},
		{[]string{"img", "x", "--wait", "--tunnel", "url"}, []string{"--tunnel url needs --public-url", "hint: see 'mlab img --help'"}},
		{[]string{"img", "x", "--wait", "--public-url", "notaurl"}, []string{"--public-url: invalid public URL"}},
		{[]string{"img", "x", "--wait", "--tunnel", "local", "--public-url", "https://h.example"}, []string{"--public-url goes with --tunnel auto or url, not local"}},
		{[]string{"img", "x", "-F", "a=@" + filepath.Join(dir, "nofile")}, []string{"read " + filepath.Join(dir, "nofile") + ": no such file or directory"}},
		{[]string{"img", "--batch", filepath.Join(dir, "nonexist.txt")}, []string{"--batch " + filepath.Join(dir, "nonexist.txt") + ": no such file or directory"}},
		{[]string{"run", "text2img", "--input", filepath.Join(dir, "nope.json")}, []string{"--input " + filepath.Join(dir, "nope.json") + ": no such file or directory"}},
		{[]string{"img", "--batch", bad}, []string{"4 bad lines; nothing was submitted", `line 2: "prompt" must be text, not 5`,
			"line 3: a JSON array, not an object", "line 5: not a JSON object", "line 6: a JSON string"}},
		{[]string{"replay", bad, "--to", "http://127.0.0.1:9/h"}, []string{"holds no recorded delivery (6 lines skipped)"}},
	}
	for _, c := range cases {
		code, _, errOut := runLine(t, map[string]string{"MODELSLAB_API_KEY": "test-key-0123"}, c.args...)
		if code != ExitUsage {
			t.Errorf("mlab %s: exit %d, want 2\n%s", strings.Join(c.args, " "), code, errOut)
			continue
		}
		rest := errOut
		for _, w := range c.want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Errorf("mlab %s: stderr lacks %q:\n%s", strings.Join(c.args, " "), w, errOut)
				break
			}
			rest = rest[i+len(w):]
		}
		for _, arg := range c.args {
			if p := strings.TrimPrefix(arg, "a=@"); strings.HasPrefix(p, dir) && strings.Count(errOut, p) > 1 {
				t.Errorf("mlab %s names %s more than once:\n%s", strings.Join(c.args, " "), p, errOut)
			}
		}
	}
}

// TestDurations: every duration flag takes days, and a bare number gets
// the unit it lacks suggested.
func TestDurations(t *testing.T) {
	var d time.Duration
	v := &durationValue{&d}
	for in, want := range map[string]time.Duration{"1d": 24 * time.Hour, "1d12h": 36 * time.Hour, "90s": 90 * time.Second, "0": 0, "30d": 30 * 24 * time.Hour} {
		if err := v.Set(in); err != nil || d != want {
			t.Errorf("Set(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	if err := v.Set("5"); err == nil || !strings.Contains(err.Error(), "did you mean 5s?") {
		t.Errorf("Set(5): %v", err)
	}
	// doctor.go is not this change's: until it takes durationFlag, its two
	// flags are the exceptions.
	notYet := map[string]bool{}
	root := NewRootCmd(NewFactory(output.System(), BuildInfo{}, func(string) string { return "" }))
	walk(root, func(c *cobra.Command) {
		c.Flags().VisitAll(func(fl *pflag.Flag) {
			if _, ours := fl.Value.(*durationValue); fl.Value.Type() == "duration" && !ours && !notYet[c.CommandPath()+" --"+fl.Name] {
				t.Errorf("%s --%s is a duration flag without durationValue (no days, no unit hint)", c.CommandPath(), fl.Name)
			}
		})
	})
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// jobSpecs are the spec-built job commands.
func jobSpecs() []*jobSpec {
	return []*jobSpec{imgSpec, videoSpec, ttsSpec, voiceConvertSpec, musicSpec, songSpec, songExtendSpec, songInpaintSpec, threeDSpec,
		editSpec(), lipSyncSpec, motionControlSpec, dubSpec, sfxSpec, sttSpec, faceSwapSpec, interiorSpec, trainSpec}
}

// TestSharedFlags: a quantity has one flag type on every job command, and
// one help text where it fills the same field; the flags every job command
// shares are the same everywhere; an input that takes files says "URL or
// local file".
func TestSharedFlags(t *testing.T) {
	type seen struct {
		kind  fieldKind
		usage map[string]string // by field
		by    string
	}
	flags := map[string]*seen{}
	for _, spec := range jobSpecs() {
		for _, ff := range spec.flags {
			s := flags[ff.flag]
			if s == nil {
				s = &seen{kind: ff.kind, usage: map[string]string{}, by: spec.name()}
				flags[ff.flag] = s
			}
			if ff.kind != s.kind {
				t.Errorf("--%s: kind %d on %s, %d on %s", ff.flag, ff.kind, spec.name(), s.kind, s.by)
			}
			if u, ok := s.usage[ff.field]; ok && u != ff.usage && ff.field != "" && (ff.numeric() || ff.flag == "negative-prompt") {
				t.Errorf("--%s (%s): help %q on %s, %q elsewhere", ff.flag, ff.field, ff.usage, spec.name(), u)
			}
			s.usage[ff.field] = ff.usage
			input := api.IsInputField(ff.field) || (ff.field == "" && api.IsInputField(strings.ReplaceAll(ff.flag, "-", "_")))
			if input && ff.kind != kFile && !strings.Contains(ff.usage, "URL or local file") && !strings.Contains(ff.usage, "URLs or local files") {
				t.Errorf("mlab %s --%s takes a file but its help does not say \"URL or local file\": %q", spec.name(), ff.flag, ff.usage)
			}
		}
	}
	for _, q := range []string{"height", "width", "seed", "steps", "guidance", "samples", "num-frames", "fps", "strength", "duration"} {
		if s := flags[q]; s == nil || !(fieldFlag{kind: s.kind}).numeric() {
			t.Errorf("--%s is not a number flag", q)
		}
	}
	// The flags of addJobFlags: one type and one help on every job command.
	common := &cobra.Command{}
	addJobFlags(common, &JobOptions{})
	root := NewRootCmd(NewFactory(output.System(), BuildInfo{}, func(string) string { return "" }))
	shared := map[string][2]string{}
	walk(root, func(c *cobra.Command) {
		if c.Flags().Lookup("batch") == nil || c.Flags().Lookup("webhook") == nil {
			return
		}
		common.Flags().VisitAll(func(want *pflag.Flag) {
			fl := c.Flags().Lookup(want.Name)
			if fl == nil {
				t.Errorf("%s has no --%s", c.CommandPath(), want.Name)
				return
			}
			got := [2]string{fl.Value.Type(), fl.Usage}
			if prev, ok := shared[fl.Name]; ok && prev != got {
				t.Errorf("%s --%s: %q, elsewhere %q", c.CommandPath(), fl.Name, got, prev)
			}
			shared[fl.Name] = got
		})
	})
	if u := shared["tunnel"][1]; !strings.Contains(u, "url") {
		t.Errorf("--tunnel help does not list url: %q", u)
	}
}
