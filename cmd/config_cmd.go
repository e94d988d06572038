package cmd

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/mlabcli/mlab/internal/config"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// ConfigOptions are the flags of `mlab config` and its commands.
type ConfigOptions struct {
	f          *Factory
	Show       bool // --show: print secrets in full
	ShowOrigin bool // list --show-origin: effective values and their sources
}

const configKeysHelp = `Keys:
  api_key           ModelsLab API key (env MODELSLAB_API_KEY wins over it)
  base_url          API base URL, default https://modelslab.com (env MODELSLAB_BASE_URL)
  ngrok_authtoken   ngrok authtoken for webhooks through a tunnel (env NGROK_AUTHTOKEN)
  tunnel            default --tunnel: auto, ngrok, local or none (env MLAB_TUNNEL)`

func newCmdConfig(f *Factory) *cobra.Command {
	o := &ConfigOptions{f: f}
	cmd := &cobra.Command{
		Use:   "config <command>",
		Short: "Read and write the config file (API key, base URL, ngrok authtoken, tunnel)",
		Long: `Read and write mlab's config file: JSON at $MLAB_CONFIG_DIR/config.json
(default: your user config directory + /mlab), written with mode 0600 because
it holds keys. A flag wins over the environment and the environment over the
file. Secrets (api_key, ngrok_authtoken) are shown masked unless --show.

` + configKeysHelp,
		Example: `  $ mlab config set api_key                 # asks for it (hidden), or reads stdin
  $ mlab config set tunnel local
  $ mlab config list
  $ mlab config get api_key --show
  $ mlab config path`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return flagErrorf("mlab config needs a command: set, get, unset, list or path")
		},
	}
	keyArgs := func(n int) cobra.PositionalArgs {
		return func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > n {
				return flagErrorf("%s takes a key: %s", cmd.CommandPath(), strings.Join(config.Keys, ", "))
			}
			if !config.IsKey(args[0]) {
				return &FlagError{Err: &config.UnknownKeyError{Key: args[0]}}
			}
			return nil
		}
	}
	completeKeys := func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return config.Keys, cobra.ShellCompDirectiveNoFileComp
	}

	set := &cobra.Command{
		Use:   "set KEY [VALUE]",
		Short: "Set a key in the config file (without VALUE: read it from the terminal or stdin)",
		Long: `Set KEY to VALUE in the config file, which is (re)written with mode 0600.
Without VALUE the value is read from stdin, or asked for without echo on a
terminal, so a secret never lands in your shell history.

` + configKeysHelp,
		Example: `  $ mlab config set api_key                  # prompts, input hidden
  $ printf %s "$KEY" | mlab config set api_key
  $ mlab config set base_url http://127.0.0.1:8765
  $ mlab config set tunnel none`,
		Args:              keyArgs(2),
		ValidArgsFunction: completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			value, given := "", len(args) == 2
			if given {
				value = args[1]
			}
			return runConfigSet(o, args[0], value, given)
		},
	}
	get := &cobra.Command{
		Use:               "get KEY",
		Short:             "Print a key's value from the config file (secrets masked unless --show)",
		Example:           "  $ mlab config get tunnel\n  $ mlab config get api_key           # sk-…3f9a\n  $ mlab config get api_key --show",
		Args:              keyArgs(1),
		ValidArgsFunction: completeKeys,
		RunE:              func(cmd *cobra.Command, args []string) error { return runConfigGet(o, args[0]) },
	}
	unset := &cobra.Command{
		Use:               "unset KEY",
		Short:             "Remove a key from the config file",
		Example:           "  $ mlab config unset ngrok_authtoken",
		Args:              keyArgs(1),
		ValidArgsFunction: completeKeys,
		RunE:              func(cmd *cobra.Command, args []string) error { return runConfigSet(o, args[0], "", true) },
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Print every key of the config file as key=value (secrets masked unless --show)",
		Long: `Print every key of the config file as key=value, secrets masked unless --show.

With --show-origin it prints the values mlab would use instead, each followed
by where it comes from: flag --api-key, env NAME, file PATH, default, or unset
(tab-separated when piped, aligned on a terminal).`,
		Example: "  $ mlab config list\n  $ mlab config list --show\n  $ mlab config list --show-origin\n  api_key=sk-…3f9a                   env MODELSLAB_API_KEY\n  base_url=https://modelslab.com      default",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return runConfigList(o) },
	}
	list.Flags().BoolVar(&o.ShowOrigin, "show-origin", false, "print the effective values (flag > environment > file > default) and where each comes from")
	path := &cobra.Command{
		Use:     "path",
		Short:   "Print the config file's path (it may not exist yet)",
		Example: "  $ mlab config path\n  $ ls -l \"$(mlab config path)\"",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := configDir(f)
			if err != nil {
				return err
			}
			fmt.Fprintln(f.IO.Out, config.Path(dir))
			return nil
		},
	}
	for _, c := range []*cobra.Command{get, list} {
		c.Flags().BoolVar(&o.Show, "show", false, "print secrets in full")
	}
	cmd.AddCommand(set, get, unset, list, path)
	return cmd
}

func configDir(f *Factory) (string, error) {
	dir, err := config.Dir(f.Getenv)
	if err != nil {
		return "", &ConfigError{Msg: err.Error(), Hint: "set " + config.EnvConfigDir + " to a writable directory"}
	}
	return dir, nil
}

func loadConfigFile(f *Factory) (string, *config.File, error) {
	dir, err := configDir(f)
	if err != nil {
		return "", nil, err
	}
	file, err := config.Load(dir)
	if err != nil {
		return "", nil, &ConfigError{Msg: err.Error(), Hint: "fix the JSON in " + config.Path(dir) + ", or delete it and run mlab config set again"}
	}
	return dir, file, nil
}

// display is how a value is shown: masked when it is a secret and --show
// was not given.
func (o *ConfigOptions) display(key, value string) string {
	if config.IsSecret(key) && !o.Show {
		return config.Mask(value)
	}
	return value
}

func runConfigSet(o *ConfigOptions, key, value string, given bool) error {
	f := o.f
	if !given {
		v, err := readValue(f, key)
		if err != nil {
			return err
		}
		value = v
		if strings.TrimSpace(value) == "" {
			return flagErrorf("no value for %s on stdin (to remove it: mlab config unset %s)", key, key)
		}
	}
	dir, file, err := loadConfigFile(f)
	if err != nil {
		return err
	}
	if err := file.Set(key, value); err != nil {
		return &FlagError{Err: err}
	}
	if err := config.Save(dir, file); err != nil {
		return &ConfigError{Msg: err.Error(), Hint: "set " + config.EnvConfigDir + " to a writable directory"}
	}
	stored, _ := file.Get(key)
	if stored == "" {
		f.IO.Successf("removed %s from %s", key, config.Path(dir))
	} else {
		f.IO.Successf("set %s = %s in %s", key, o.display(key, stored), config.Path(dir))
	}
	if env := config.EnvFor(key); f.Getenv(env) != "" {
		f.IO.Warnf("%s is set in the environment and takes precedence over the file's %s", env, key)
	}
	return nil
}

// readValue reads a value that was not given on the command line: hidden
// input on a terminal, else stdin up to its end (one trailing newline cut).
func readValue(f *Factory, key string) (string, error) {
	if fd, ok := f.IO.In.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(fd.Fd())) {
		fmt.Fprintf(f.IO.ErrOut, "%s: ", key)
		b, err := term.ReadPassword(int(fd.Fd()))
		fmt.Fprintln(f.IO.ErrOut)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", key, err)
		}
		return string(b), nil
	}
	b, err := io.ReadAll(io.LimitReader(f.IO.In, 64<<10))
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", key, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func runConfigGet(o *ConfigOptions, key string) error {
	f := o.f
	dir, file, err := loadConfigFile(f)
	if err != nil {
		return err
	}
	v, err := file.Get(key)
	if err != nil {
		return &FlagError{Err: err}
	}
	if v == "" {
		f.IO.Infof("%s is not set in %s", key, config.Path(dir))
	} else {
		fmt.Fprintln(f.IO.Out, o.display(key, v))
	}
	if env := config.EnvFor(key); f.Getenv(env) != "" {
		f.IO.Warnf("%s is set in the environment and takes precedence over the file's %s", env, key)
	}
	return nil
}

func runConfigList(o *ConfigOptions) error {
	f := o.f
	dir, file, err := loadConfigFile(f)
	if err != nil {
		return err
	}
	if o.ShowOrigin {
		return writeOrigins(o, config.Effective(file, dir, f.apiKeyFlag, f.Getenv))
	}
	for _, k := range config.Keys {
		v, _ := file.Get(k)
		fmt.Fprintf(f.IO.Out, "%s=%s\n", k, o.display(k, v))
	}
	for _, k := range config.Keys {
		if env := config.EnvFor(k); f.Getenv(env) != "" {
			f.IO.Warnf("%s is set in the environment and takes precedence over %s", env, k)
		}
	}
	return nil
}

// writeOrigins prints each effective value and where it comes from:
// aligned columns on a terminal, key=value TAB source when piped.
func writeOrigins(o *ConfigOptions, settings []config.Setting) error {
	ios := o.f.IO
	pairs := make([]string, len(settings))
	width := 0
	for i, s := range settings {
		pairs[i] = s.Key + "=" + output.Safe(o.display(s.Key, s.Value))
		width = max(width, ansi.StringWidth(pairs[i]))
	}
	var b strings.Builder
	for i, s := range settings {
		src := output.Safe(s.Source())
		if ios.IsStdoutTTY() {
			fmt.Fprintf(&b, "%s%s  %s\n", pairs[i], strings.Repeat(" ", width-ansi.StringWidth(pairs[i])), src)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", pairs[i], src)
		}
	}
	_, err := io.WriteString(ios.Out, b.String())
	return err
}
