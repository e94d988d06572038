package cmd

import "github.com/spf13/cobra"

// shipCommands returns the setup and housekeeping commands (config, doctor,
// man) and the help topics.
func shipCommands(f *Factory) []*cobra.Command { return nil }
