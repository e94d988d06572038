package cmd

import "github.com/spf13/cobra"

// shipCommands returns the setup and housekeeping commands (config, doctor,
// man, completion) and the help topics.
func shipCommands(f *Factory) []*cobra.Command {
	return append([]*cobra.Command{
		newCmdConfig(f),
		newCmdDoctor(f, nil),
		newCmdMan(f),
		newCmdCompletion(),
	}, helpTopics()...)
}
