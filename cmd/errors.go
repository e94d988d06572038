package cmd

import (
	"context"
	"errors"
	"fmt"
	"github.com/mlabcli/mlab/internal/suggest"
	"reflect"
	"strings"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/config"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/models"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes: the contract scripts rely on (see `mlab --help`). Only a job
// the API says failed exits 1; every other error is a usage or
// configuration mistake (2) or an API, network or I/O failure (4).
const (
	ExitOK          = 0   // success
	ExitFailed      = 1   // the job failed (the API said failed/error)
	ExitUsage       = 2   // usage or configuration error
	ExitTimeout     = 3   // timed out waiting; the job may still finish
	ExitAPI         = 4   // API, network or I/O error
	ExitInterrupted = 130 // interrupted (Ctrl-C, SIGINT)
	ExitTerminated  = 143 // terminated (SIGTERM)
)

// FlagError is a usage mistake: bad flags or arguments (exit 2). Hint, if
// set, says what to do; else the command's own --help is named.
type FlagError struct {
	Err  error
	Hint string
}

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

func flagErrorf(format string, a ...any) error {
	return &FlagError{Err: fmt.Errorf(format, a...)}
}

// ConfigError is a configuration problem the user must fix (exit 2).
type ConfigError struct {
	Msg  string
	Hint string
}

func (e *ConfigError) Error() string { return e.Msg }

// ExitError is an error that says what to do next and, when Code is set,
// carries its own exit code. Run prints it once, as "error: …" and
// "hint: …" (one JSON line with --json). A Quiet one has been reported
// already (a batch summary, the doctor's table): only its code matters.
type ExitError struct {
	Err   error
	Hint  string // what to do next; "" falls back to hintFor(Err)
	Code  int    // 0: exitCodeFor(Err)
	Quiet bool
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// withHint attaches what to do next to err.
func withHint(err error, hint string) error { return &ExitError{Err: err, Hint: hint} }

// quietExit is an outcome already reported on stderr, with its exit code.
func quietExit(code int, err error) error { return &ExitError{Err: err, Code: code, Quiet: true} }

// The errors that are the user's to fix: a flag, an argument, a file
// named, the configuration (exit 2): error types, and sentinels.
var (
	usageTypes = []error{
		&FlagError{}, &ConfigError{}, &config.UnknownKeyError{}, &api.InputError{}, &receiver.LocalError{},
		&runner.SandboxGoneError{}, &runner.OtherAPIError{},
		// pflag's, for a command run without root's flag error function
		&pflag.InvalidValueError{}, &pflag.NotExistError{}, &pflag.ValueRequiredError{}, &pflag.InvalidSyntaxError{},
	}
	usageSentinels = []error{api.ErrTooLarge, receiver.ErrNoAuthtoken, journal.ErrNotFound, journal.ErrNoPlan, models.ErrNotFound}
)

// exitCodeFor maps any error to the exit-code contract, in one place.
// What is not named here is an API, network or I/O failure (exit 4).
func exitCodeFor(err error) int {
	if err == nil {
		return ExitOK
	}
	var (
		xe     *ExitError
		failed *runner.FailedError
		ae     *api.Error
		te     *receiver.TunnelError
		de     *runner.DownloadError
	)
	switch {
	case errors.As(err, &xe) && xe.Code != 0:
		return xe.Code
	case isType(err, usageTypes), isAny(err, usageSentinels):
		return ExitUsage
	case errors.As(err, &te), errors.As(err, &de):
		// Before the Canceled check: a tunnel that failed to come up may
		// carry its own cancelled session context in the chain.
		return ExitAPI
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, runner.ErrTimeout):
		return ExitTimeout
	case errors.As(err, &failed):
		return ExitFailed
	case errors.As(err, &ae) && ae.Kind == api.KindRejected && !ae.Refused:
		return ExitFailed
	}
	return ExitAPI
}

// isAny reports whether err is, or wraps, one of sentinels.
func isAny(err error, sentinels []error) bool {
	for _, t := range sentinels {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// isType reports whether err is, or wraps, an error of the type of one
// of types (each a pointer to an error type, as errors.As takes them).
func isType(err error, types []error) bool {
	for _, t := range types {
		if errors.As(err, reflect.New(reflect.TypeOf(t)).Interface()) {
			return true
		}
	}
	return false
}

// hintFor says what to do next, when there is something useful to say.
func hintFor(err error) string { return hintIn(err, "") }

// hintIn is hintFor for an error of the command cmdPath ("mlab img"): a
// usage error without a hint of its own names that command's --help.
func hintIn(err error, cmdPath string) string {
	var (
		xe *ExitError
		ce *ConfigError
		ae *api.Error
		te *receiver.TunnelError
		le *receiver.LocalError
		fe *FlagError
	)
	switch {
	case errors.As(err, &xe) && xe.Hint != "":
		return xe.Hint
	case errors.As(err, &ce):
		return ce.Hint
	case errors.As(err, &fe) && fe.Hint != "":
		return fe.Hint
	case errors.As(err, &fe) && cmdPath != "":
		return "see '" + cmdPath + " --help'"
	case errors.As(err, &fe):
		return "see 'mlab --help' or the command's --help"
	case errors.As(err, &ae) && ae.Kind == api.KindAuth:
		return "check your API key (MODELSLAB_API_KEY, --api-key or `mlab config`)"
	case errors.As(err, &ae):
		return ae.Hint()
	case errors.As(err, &te):
		if te.Hint == "" {
			return "use --tunnel none to poll for results"
		}
		return te.Hint + "; or use --tunnel none to poll for results"
	case errors.As(err, &le):
		return "choose another --listen address or free the port"
	}
	return ""
}

// closest is the choice meant by v, "" when none is near enough.
var closest = suggest.Closest

// unknownValue is the usage error of a value that is not one of choices
// (what names the value: `--kind`, "endpoint"): the closest choice, else
// the list when it is short, else where to find it (help).
func unknownValue(what, v string, choices []string, help string) error {
	if c := closest(v, choices); c != "" {
		return &FlagError{Err: fmt.Errorf("unknown %s %q: did you mean %s?", what, v, c), Hint: help}
	}
	if len(choices) <= 12 {
		return &FlagError{Err: fmt.Errorf("unknown %s %q: want one of %s", what, v, strings.Join(choices, ", ")), Hint: help}
	}
	return &FlagError{Err: fmt.Errorf("unknown %s %q", what, v), Hint: help}
}

// flagError is every command's flag error function: a usage error (exit
// 2) that suggests the flag meant and says what a value must be, in the
// same words on every command.
func flagError(cmd *cobra.Command, err error) error {
	var (
		inv *pflag.InvalidValueError
		ne  *pflag.NotExistError
	)
	switch {
	case errors.As(err, &inv):
		fl := inv.GetFlag()
		return &FlagError{Err: fmt.Errorf("invalid argument %q for \"--%s\": %v", inv.GetValue(), fl.Name, valueProblem(fl, inv.Unwrap()))}
	case errors.As(err, &ne) && ne.GetSpecifiedShortnames() == "":
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		if s := closest(ne.GetSpecifiedName(), names); s != "" {
			return &FlagError{Err: fmt.Errorf("unknown flag --%s: did you mean --%s?", ne.GetSpecifiedName(), s)}
		}
	case errors.As(err, &ne) && ne.GetSpecifiedName() == "v" && cmd.Flags().Lookup("version") != nil:
		return &FlagError{Err: fmt.Errorf("unknown shorthand flag -v: did you mean --version?")}
	}
	return &FlagError{Err: err}
}

// valueProblem says what a flag's value must be, by the flag's type.
func valueProblem(fl *pflag.Flag, cause error) error {
	switch fl.Value.Type() {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "count":
		return errors.New("want a whole number")
	case "float32", "float64":
		return errors.New("want a number")
	case "bool":
		return errors.New("want true or false")
	}
	return cause
}

// noArgs is cobra.NoArgs, reported as the usage error it is.
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return &FlagError{Err: err}
	}
	return nil
}
