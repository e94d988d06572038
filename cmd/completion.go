package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newCmdCompletion replaces cobra's default completion command (same
// scripts) with one whose help has examples for every shell and says where
// each script goes. Completion is dynamic: the scripts call back into
// `mlab __complete`, so flags and subcommands are always current.
func newCmdCompletion() *cobra.Command {
	var noDesc bool
	cmd := &cobra.Command{
		Use:   "completion <bash|zsh|fish|powershell>",
		Short: "Print the shell completion script for bash, zsh, fish or PowerShell",
		Long: `Print a script that makes your shell complete mlab's commands and flags.
Load it once in the current shell to try it, or install it so every new shell
has it. The release archives, the .deb/.rpm packages and the Homebrew formula
install the scripts already.`,
		Example: `  # bash (needs the bash-completion package)
  $ source <(mlab completion bash)
  $ mlab completion bash | sudo tee /etc/bash_completion.d/mlab >/dev/null

  # zsh (compinit must be enabled)
  $ mlab completion zsh > "${fpath[1]}/_mlab"

  # fish
  $ mlab completion fish > ~/.config/fish/completions/mlab.fish

  # PowerShell
  PS> mlab completion powershell | Out-String | Invoke-Expression`,
		Args:      noArgs,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return flagErrorf("mlab completion needs a shell: bash, zsh, fish or powershell")
		},
	}
	cmd.PersistentFlags().BoolVar(&noDesc, "no-descriptions", false, "leave command and flag descriptions out of the completions")

	shell := func(name, example string, gen func(root *cobra.Command, c *cobra.Command) error) *cobra.Command {
		return &cobra.Command{
			Use:                   name,
			Short:                 fmt.Sprintf("Print the completion script for %s", name),
			Example:               example,
			Args:                  noArgs,
			DisableFlagsInUseLine: true,
			ValidArgsFunction:     cobra.NoFileCompletions,
			RunE: func(c *cobra.Command, args []string) error {
				return gen(c.Root(), c)
			},
		}
	}
	cmd.AddCommand(
		shell("bash", `  $ source <(mlab completion bash)                       # this shell
  $ mlab completion bash > /etc/bash_completion.d/mlab     # every shell (as root)
  $ mlab completion bash > ~/.local/share/bash-completion/completions/mlab`,
			func(root, c *cobra.Command) error { return root.GenBashCompletionV2(c.OutOrStdout(), !noDesc) }),
		shell("zsh", `  $ source <(mlab completion zsh)                        # this shell
  $ mlab completion zsh > "${fpath[1]}/_mlab"              # every shell`,
			func(root, c *cobra.Command) error {
				if noDesc {
					return root.GenZshCompletionNoDesc(c.OutOrStdout())
				}
				return root.GenZshCompletion(c.OutOrStdout())
			}),
		shell("fish", `  $ mlab completion fish | source                        # this shell
  $ mlab completion fish > ~/.config/fish/completions/mlab.fish`,
			func(root, c *cobra.Command) error { return root.GenFishCompletion(c.OutOrStdout(), !noDesc) }),
		shell("powershell", `  PS> mlab completion powershell | Out-String | Invoke-Expression
  PS> mlab completion powershell >> $PROFILE`,
			func(root, c *cobra.Command) error {
				if noDesc {
					return root.GenPowerShellCompletion(c.OutOrStdout())
				}
				return root.GenPowerShellCompletionWithDesc(c.OutOrStdout())
			}),
	)
	return cmd
}
