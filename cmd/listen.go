package cmd

import "github.com/spf13/cobra"

// webhookCommands returns the webhook tools: listen, replay, trigger.
func webhookCommands(f *Factory) []*cobra.Command { return nil }
