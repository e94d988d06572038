package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/spf13/cobra"
)

// Exit codes: the contract scripts rely on (see `mlab --help`).
const (
	ExitOK          = 0   // success
	ExitFailed      = 1   // the job failed (the API said failed/error)
	ExitUsage       = 2   // usage or configuration error
	ExitTimeout     = 3   // timed out waiting; the job may still finish
	ExitAPI         = 4   // API or network error
	ExitInterrupted = 130 // interrupted (Ctrl-C)
)

// FlagError is a usage mistake: bad flags or arguments (exit 2).
type FlagError struct{ Err error }

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

// exitCodeFor maps any error to the exit-code contract, in one place.
func exitCodeFor(err error) int {
	if err == nil {
		return ExitOK
	}
	var (
		xe     *ExitError
		fe     *FlagError
		ce     *ConfigError
		failed *runner.FailedError
		ae     *api.Error
		te     *receiver.TunnelError
		le     *receiver.LocalError
		de     *runner.DownloadError
	)
	switch {
	case errors.As(err, &xe) && xe.Code != 0:
		return xe.Code
	case errors.As(err, &fe), errors.As(err, &ce), errors.Is(err, receiver.ErrNoAuthtoken), errors.As(err, &le):
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
	case errors.As(err, &ae):
		if ae.Kind == api.KindRejected && !ae.Refused {
			return ExitFailed
		}
		return ExitAPI
	}
	return ExitFailed
}

// hintFor says what to do next, when there is something useful to say.
func hintFor(err error) string {
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

// noArgs is cobra.NoArgs, reported as the usage error it is.
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return &FlagError{Err: err}
	}
	return nil
}
