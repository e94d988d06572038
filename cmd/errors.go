package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/tunnel"
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

// DownloadError is a failed download of a finished job's output (exit 4).
type DownloadError struct{ Err error }

func (e *DownloadError) Error() string { return "download outputs: " + e.Err.Error() }
func (e *DownloadError) Unwrap() error { return e.Err }

// StoppedError reports a wait that ended before the job did (timeout or
// interrupt); the job goes on running at ModelsLab.
type StoppedError struct {
	ID  string
	Err error // job.ErrTimeout or context.Canceled
}

func (e *StoppedError) Error() string {
	if errors.Is(e.Err, job.ErrTimeout) {
		return fmt.Sprintf("timed out waiting for job %s; it may still finish", e.ID)
	}
	return fmt.Sprintf("interrupted while waiting for job %s; it may still finish", e.ID)
}
func (e *StoppedError) Unwrap() error { return e.Err }

// silentError has been reported already; only its exit code matters.
type silentError struct {
	code int
	err  error
}

func (e *silentError) Error() string { return e.err.Error() }
func (e *silentError) Unwrap() error { return e.err }

// exitCodeFor maps any error to the exit-code contract, in one place.
func exitCodeFor(err error) int {
	if err == nil {
		return ExitOK
	}
	var (
		silent *silentError
		fe     *FlagError
		ce     *ConfigError
		failed *job.FailedError
		ae     *api.Error
		te     *tunnel.Error
		de     *DownloadError
	)
	switch {
	case errors.As(err, &silent):
		return silent.code
	case errors.As(err, &fe), errors.As(err, &ce), errors.Is(err, tunnel.ErrNoAuthtoken), isCobraUsage(err):
		return ExitUsage
	case errors.As(err, &te), errors.As(err, &de):
		// Before the Canceled check: a tunnel that failed to come up may
		// carry its own cancelled session context in the chain.
		return ExitAPI
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, job.ErrTimeout):
		return ExitTimeout
	case errors.As(err, &failed):
		return ExitFailed
	case errors.As(err, &ae):
		if ae.Kind == api.KindRejected {
			return ExitFailed
		}
		return ExitAPI
	}
	return ExitFailed
}

// hintFor says what to do next, when there is something useful to say.
func hintFor(err error) string {
	var (
		ce *ConfigError
		ae *api.Error
		te *tunnel.Error
		fe *FlagError
	)
	switch {
	case errors.As(err, &ce):
		return ce.Hint
	case errors.As(err, &fe):
		return "see 'mlab --help' or the command's --help"
	case errors.As(err, &ae):
		return ae.Hint()
	case errors.As(err, &te):
		return te.Hint
	case isCobraUsage(err):
		return "see 'mlab --help'"
	}
	return ""
}

// isCobraUsage recognises cobra's own argument and flag errors, which are
// plain errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires at most", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
