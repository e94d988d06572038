// Package cmd is mlab's command tree (cobra). Each command file holds an
// XOptions struct, newCmdX(f, runF) that only fills and validates the
// options, and runX(ctx, opts) that does the work through internal packages.
// Errors become exit codes in one place (exitCodeFor).
package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mlabcli/mlab/internal/output"
)

// BuildInfo is what main knows about the binary.
type BuildInfo struct {
	Version string
	Commit  string
	Date    string
}

// Main runs mlab with os.Args and returns the process exit code. SIGINT
// (Ctrl-C) and SIGTERM both cancel the command's context; an interrupted
// command exits 130 for the one, 143 for the other.
func Main(bi BuildInfo) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			cancel(signalError{sig})
		}
	}()
	f := NewFactory(output.System(), bi, os.Getenv)
	return Run(ctx, f, os.Args[1:])
}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "received " + e.sig.String() }

// Run executes one command line with the given factory and returns the exit
// code; errors are printed to f.IO's stderr.
func Run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if !f.started {
		// Nothing ran: cobra itself refused the command line (an unknown
		// command, a built-in argument check). Those are usage errors.
		var fe *FlagError
		if !errors.As(err, &fe) {
			err = &FlagError{Err: cobraUsage(err)}
		}
	}
	code := exitCodeFor(err)
	var se signalError
	if code == ExitInterrupted && errors.As(context.Cause(ctx), &se) && se.sig == syscall.SIGTERM {
		code = ExitTerminated
	}
	if !isQuiet(err) {
		path := "mlab"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		output.PrintError(f.IO, errors.New(f.redact(err.Error())), f.redact(hintIn(err, path)), code, f.jsonErrors)
	}
	return code
}

// cobraUsage puts cobra's own suggestions on the error's line:
// `unknown command "imgg" for "mlab": did you mean img?`.
func cobraUsage(err error) error {
	msg, sugg, ok := strings.Cut(err.Error(), "\n\nDid you mean this?\n")
	if !ok {
		return err
	}
	return fmt.Errorf("%s: did you mean %s?", msg, strings.Join(strings.Fields(sugg), " or "))
}

func isQuiet(err error) bool {
	var xe *ExitError
	return errors.As(err, &xe) && xe.Quiet
}
