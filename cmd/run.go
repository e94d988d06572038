package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/spf13/cobra"
)

// RunOptions are the flags of `mlab run`.
type RunOptions struct {
	f        *Factory
	Job      JobOptions
	Endpoint string
	Input    string
	Params   []string
}

func newCmdRun(f *Factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	opts := &RunOptions{f: f}
	var lines []string
	for _, ep := range api.Catalogue() {
		extra := ""
		if pp := ep.PathParams(); len(pp) > 0 {
			extra = " [-p " + strings.Join(pp, "=... -p ") + "=...]"
		}
		lines = append(lines, fmt.Sprintf("  %-9s %-24s %s%s", ep.Kind, ep.Name, ep.Summary, extra))
	}
	cmd := &cobra.Command{
		Use:   "run ENDPOINT",
		Short: "Run any catalogued endpoint with a raw body (-F key=value, --input FILE)",
		Long: `Run any endpoint in mlab's catalogue with the same wait, output and exit codes
as the dedicated commands. The body comes from --input FILE (a JSON object) and
-F key=value / -f key=value (which win); local files in input fields
(init_image, init_audio, images, ...) are uploaded first. Path parameters go
in with -p name=value.

Endpoints:
` + strings.Join(lines, "\n") + "\n\n" + exitCodesHelp,
		Example: `  $ mlab run text2img -F prompt="a lighthouse" -F model_id=flux --wait -o out/
  $ mlab run super_resolution -F init_image=photo.jpg -F scale=4 --wait -o out/
  $ mlab run workflow_run -p workflow_id=5f1c9f1e-... --input params.json --wait`,
		Args: exactArgs(1, "mlab run takes one ENDPOINT (see mlab run --help), got %d"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Endpoint = args[0]
			if err := opts.Job.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Input, "input", "", "read the request body from a JSON `FILE` (-F wins)")
	cmd.Flags().StringArrayVarP(&opts.Params, "param", "p", nil, "path parameter `name=value` (e.g. workflow_id)")
	addJobFlags(cmd, &opts.Job)
	return cmd
}

func runRun(ctx context.Context, o *RunOptions) error {
	ep, ok := api.Lookup(o.Endpoint)
	if !ok {
		var names []string
		for _, e := range api.Catalogue() {
			names = append(names, e.Name)
		}
		return unknownValue("endpoint", o.Endpoint, names, "see 'mlab run --help' for the endpoints")
	}
	params, err := parseParams(o.Params)
	if err != nil {
		return err
	}
	if ep, err = withPathParams(ep, params); err != nil {
		return err
	}
	body, err := bodyFromInput(o.Input, o.Job.Fields, o.Job.RawFields, o.f.IO.In)
	if err != nil {
		return err
	}
	return runJob(ctx, o.f, &o.Job, &runner.Job{Endpoint: ep, PathParams: params, Body: body}, "")
}
