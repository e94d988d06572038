// Package cmd is mlab's command tree (cobra). Each command file holds an
// XOptions struct, newCmdX(f, runF) that only fills and validates the
// options, and runX(ctx, opts) that does the work through internal packages.
// Errors become exit codes in one place (exitCodeFor).
package cmd

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/mlabcli/mlab/internal/output"
)

// BuildInfo is what main knows about the binary.
type BuildInfo struct {
	Version string
	Commit  string
	Date    string
}

// Main runs mlab with os.Args and returns the process exit code.
func Main(bi BuildInfo) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := NewFactory(output.System(), bi, os.Getenv)
	return Run(ctx, f, os.Args[1:])
}

// Run executes one command line with the given factory and returns the exit
// code; errors are printed to f.IO's stderr.
func Run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if !f.started {
		// Nothing ran: cobra itself refused the command line (an unknown
		// command, a built-in argument check). Those are usage errors.
		var fe *FlagError
		if !errors.As(err, &fe) {
			err = &FlagError{Err: err}
		}
	}
	code := exitCodeFor(err)
	if !isQuiet(err) {
		output.PrintError(f.IO, errors.New(f.redact(err.Error())), f.redact(hintFor(err)), code, f.jsonErrors)
	}
	return code
}

func isQuiet(err error) bool {
	var xe *ExitError
	return errors.As(err, &xe) && xe.Quiet
}
