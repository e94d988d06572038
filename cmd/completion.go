package cmd

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/output"
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
		Args: noArgs,
		// The shells are its subcommands: listed once (ValidArgs would
		// list each twice).
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

// Dynamic completion: values only mlab knows (endpoints, operations, the
// journal's jobs, the values of --tunnel, --kind, --status and the
// choice flags), given to the shell through `mlab __complete`.

const noFiles = cobra.ShellCompDirectiveNoFileComp

// tunnelCompletions are the --tunnel values, with what each does.
var tunnelCompletions = []cobra.Completion{
	cobra.CompletionWithDesc("auto", "ngrok when an authtoken is set and it comes up, else poll"),
	cobra.CompletionWithDesc("ngrok", "an embedded ngrok tunnel (needs NGROK_AUTHTOKEN)"),
	cobra.CompletionWithDesc("local", "a listener on this machine (the API must reach it)"),
	cobra.CompletionWithDesc("url", "your own --public-url that forwards to --listen"),
	cobra.CompletionWithDesc("none", "no webhook: watch the outputs and poll"),
}

// registerCompletions gives run and edit their dynamic completions (the
// catalogue's endpoints, edit's operations) and wait and fetch theirs
// (the journal's ids), where the commands left them unset. It finds them
// with Find: walking the root's children would sort them (cobra sorts in
// place), and the root has two commands named "models" (the command and
// its help topic) whose order decides which one runs.
func registerCompletions(root *cobra.Command, f *Factory) {
	for name, fn := range map[string]cobra.CompletionFunc{
		"run":   completeEndpoints(""),
		"edit":  completeEndpoints("edit"),
		"wait":  completeJournalIDs(f, 1),
		"fetch": completeJournalIDs(f, 1),
	} {
		c, _, err := root.Find([]string{name})
		if err == nil && c != root && c.Name() == name && c.ValidArgsFunction == nil && len(c.ValidArgs) == 0 {
			c.ValidArgsFunction = fn
		}
	}
}

// registerJobFlagCompletions completes the values of the shared job flags
// mlab knows (for addJobFlags): --tunnel.
func registerJobFlagCompletions(cmd *cobra.Command) {
	if cmd.Flags().Lookup("tunnel") != nil {
		_ = cmd.RegisterFlagCompletionFunc("tunnel", cobra.FixedCompletions(tunnelCompletions, noFiles))
	}
}

// flagCompletion completes the history flags whose values mlab knows.
func flagCompletion(path, flag string) cobra.CompletionFunc {
	switch flag {
	case "kind":
		if path == "jobs" {
			return cobra.FixedCompletions(journalKinds, noFiles)
		}
		return cobra.FixedCompletions(kindNames(), noFiles)
	case "status":
		return cobra.FixedCompletions(historyStatuses, noFiles)
	}
	return nil
}

// addSpecFlags defines a job command's own flags (for newJobCmd) and
// completes those that take one of a fixed set of values.
func addSpecFlags(cmd *cobra.Command, o *JobCmdOptions) {
	o.addFlags(cmd.Flags())
	registerChoiceCompletions(cmd, o.spec)
}

// registerChoiceCompletions completes every flag of a job command that
// takes one of a fixed set of values (--output-type, --output-format,
// --lora-type, ...), for newJobCmd.
func registerChoiceCompletions(cmd *cobra.Command, spec *jobSpec) {
	for _, ff := range spec.flags {
		if len(ff.choices) > 0 {
			_ = cmd.RegisterFlagCompletionFunc(ff.flag, cobra.FixedCompletions(ff.choices, noFiles))
		}
	}
}

// completeEndpoints completes catalogue endpoints (of one kind, when kind
// is set), each with its summary.
func completeEndpoints(kind string) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, noFiles
		}
		var out []cobra.Completion
		for _, ep := range api.Catalogue() {
			if (kind == "" || ep.Kind == kind) && strings.HasPrefix(ep.Name, prefix) {
				out = append(out, cobra.CompletionWithDesc(ep.Name, ep.Summary))
			}
		}
		slices.Sort(out)
		return out, noFiles
	}
}

// maxIDCompletions bounds the journal ids offered.
const maxIDCompletions = 50

// completeJournalIDs completes the ids (or track_ids, when that is what is
// being typed) of the journal's jobs, newest first, each described by its
// status, endpoint, age and prompt; at most n arguments (-1: any number,
// those given not offered again). A journal that does not exist yet is not
// created.
func completeJournalIDs(f *Factory, n int) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		directive := noFiles | cobra.ShellCompDirectiveKeepOrder
		if n >= 0 && len(args) >= n {
			return nil, noFiles
		}
		dir, err := journal.DefaultDir(f.Getenv)
		if err != nil {
			return nil, directive
		}
		if _, err := os.Stat(filepath.Join(dir, journal.LogName)); err != nil {
			return nil, directive
		}
		j, err := journal.Open(dir)
		if err != nil {
			return nil, directive
		}
		defer j.Close()
		entries, err := j.List(journal.Filter{})
		if err != nil {
			return nil, directive
		}
		now := time.Now()
		var out []cobra.Completion
		for i := range entries {
			e := &entries[i]
			ref := ""
			switch {
			case e.ID != "" && strings.HasPrefix(e.ID, prefix):
				ref = e.ID
			case e.TrackID != "" && strings.HasPrefix(e.TrackID, prefix) && prefix != "":
				ref = e.TrackID
			case e.ID == "" && e.TrackID != "" && prefix == "":
				ref = e.TrackID // a submit with no answer has only its track_id
			}
			if ref == "" || slices.Contains(args, ref) || strings.ContainsAny(ref, " \t\n") {
				continue
			}
			desc := fmt.Sprintf("%s %s, %s", e.Status, cmp.Or(e.Endpoint, e.Kind), output.FormatAgo(now.Sub(e.SubmittedAt)))
			if p := strings.Join(strings.Fields(output.PromptOrMessage(e)), " "); p != "" {
				desc += ": " + ansi.Truncate(p, 40, "…")
			}
			out = append(out, cobra.CompletionWithDesc(output.Safe(ref), output.Safe(desc)))
			if len(out) == maxIDCompletions {
				break
			}
		}
		return out, directive
	}
}
