package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

const exitCodesHelp = `Exit status:
  0    success
  1    the job failed (the API said failed/error)
  2    usage or configuration error
  3    timed out waiting (the job id is printed; the job may still finish)
  4    API, network or I/O error (unreachable, 5xx after retries, 401/402,
       429 exhausted, a download or a file that could not be written)
  130  interrupted (Ctrl-C; the job id is printed)
  143  terminated (SIGTERM; the job id is printed)`

const environmentHelp = `Environment:
  MODELSLAB_API_KEY    API key (--api-key wins; the config file is the fallback)
  MODELSLAB_BASE_URL   API base URL (default https://modelslab.com), e.g. a sandbox
  NGROK_AUTHTOKEN      ngrok authtoken: enables the embedded tunnel for webhooks
  MLAB_TUNNEL          default for --tunnel (auto, ngrok, local, url, none)
  MLAB_CONFIG_DIR      config directory (default: your user config dir + /mlab)
  MLAB_STATE_DIR       job journal directory (default ~/.local/state/mlab)
  NO_COLOR             disable colour
  (all of them: mlab help environment)`

// NewRootCmd builds the whole command tree; a fresh one per run (no package
// state), so tests can build as many as they like.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "mlab <command>",
		Short: "ModelsLab from the command line: submit, wait by webhook or poll, download",
		Long: `mlab runs ModelsLab generation jobs from a terminal or a CI script.

With --wait it opens a local webhook listener (behind an embedded ngrok tunnel
when NGROK_AUTHTOKEN is set), submits the job with that URL as its webhook and
a track_id, and returns when the webhook arrives or the always-running poller
sees the result. Then it downloads the files (-o DIR) and prints them.

stdout carries only results (URLs or paths, or JSON with --json); everything
for people goes to stderr.

` + exitCodesHelp + "\n\n" + environmentHelp,
		Example: `  # no key needed: a local sandbox API
  $ mlab img "a lighthouse at dusk" --wait --sandbox -o out

  # the real API
  $ export MODELSLAB_API_KEY=...
  $ mlab img "a lighthouse at dusk" --wait -o out/`,
		Version:       f.Build.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			f.started = true
			// --json asks for JSON error lines too; this is the one place
			// that decides it (--jq and --template set --json).
			if fl := cmd.Flags().Lookup("json"); fl != nil && fl.Value.String() == "true" {
				f.jsonErrors = true
			}
			// --jq, --template, -q and the file flags (output_flags.go).
			if err := applyOutputFlags(f, cmd); err != nil {
				return err
			}
			f.IO.SetQuiet(f.outputFlags().quiet())
			return nil
		},
	}
	root.SetVersionTemplate(fmt.Sprintf("mlab version %s (commit %s, built %s)\n", f.Build.Version, f.Build.Commit, f.Build.Date))
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(flagError)
	// --version has no -v: -v is --verbose where a command has one.
	root.Flags().Bool("version", false, "print mlab's version")
	root.PersistentFlags().StringVar(&f.apiKeyFlag, "api-key", "", "ModelsLab API key (prefer MODELSLAB_API_KEY: flags end up in shell history)")
	root.PersistentFlags().BoolVar(&f.debug, "debug", false, "log API calls, tunnel and webhook events to stderr (keys redacted)")

	addCommands(root, f)
	registerCompletions(root, f)
	root.SetHelpCommandGroupID("tools")
	root.SetCompletionCommandGroupID("tools")
	return root
}

// addCommands puts every command in its help group: job commands (and the
// history), webhook tools, tools.
func addCommands(root *cobra.Command, f *Factory) {
	root.AddGroup(&cobra.Group{ID: "jobs", Title: "Job commands:"}, &cobra.Group{ID: "tools", Title: "Tools:"})
	for _, c := range []*cobra.Command{
		newCmdImg(f, nil),
		newJobCmd(f, videoSpec, nil),
		newJobCmd(f, ttsSpec, nil),
		newJobCmd(f, voiceConvertSpec, nil),
		newJobCmd(f, musicSpec, nil),
		newCmdSong(f),
		newJobCmd(f, threeDSpec, nil),
		newJobCmd(f, editSpec(), nil),
		newJobCmd(f, lipSyncSpec, nil),
		newJobCmd(f, motionControlSpec, nil),
		newJobCmd(f, dubSpec, nil),
		newJobCmd(f, sfxSpec, nil),
		newJobCmd(f, sttSpec, nil),
		newJobCmd(f, faceSwapSpec, nil),
		newJobCmd(f, interiorSpec, nil),
		newJobCmd(f, trainSpec, nil),
		newCmdWorkflow(f),
		newCmdRun(f, nil),
		newCmdModels(f, nil),
	} {
		c.GroupID = "jobs"
		root.AddCommand(c)
	}
	root.AddGroup(&cobra.Group{ID: "webhooks", Title: "Webhook tools:"})
	for _, c := range webhookCommands(f) {
		c.GroupID = "webhooks"
		root.AddCommand(c)
	}
	for _, c := range historyCommands(f) {
		c.GroupID = "jobs"
		root.AddCommand(c)
	}
	for _, c := range append([]*cobra.Command{
		newCmdSandbox(f, nil),
		newCmdMCP(f, nil),
	}, shipCommands(f)...) {
		if c.Runnable() || c.HasSubCommands() {
			c.GroupID = "tools"
		}
		root.AddCommand(c)
	}
}
