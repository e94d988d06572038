package cmd

import "github.com/spf13/cobra"

// historyCommands returns the job-history commands (mlab jobs).
func historyCommands(f *Factory) []*cobra.Command { return nil }
