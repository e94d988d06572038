package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/spf13/cobra"
)

func newCmdWorkflow(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workflow <command>",
		Short: "Workflows: run, list, show and cancel your API-enabled workflows",
		Long: `Run ModelsLab workflows (pipelines you build in the ModelsLab app and enable
for the API). The key goes in the request header; executions are polled with
GET .../runs/{id} and may also report through a webhook, in either of the two
documented webhook shapes.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return flagErrorf("mlab workflow needs a command: run, list, show or cancel")
		},
	}
	cmd.AddCommand(newCmdWorkflowRun(f, nil), newCmdWorkflowList(f), newCmdWorkflowShow(f), newCmdWorkflowCancel(f))
	return cmd
}

// WorkflowRunOptions are the flags of `mlab workflow run`.
type WorkflowRunOptions struct {
	f          *Factory
	Job        JobOptions
	WorkflowID string
	Input      string
}

func newCmdWorkflowRun(f *Factory, runF func(context.Context, *WorkflowRunOptions) error) *cobra.Command {
	opts := &WorkflowRunOptions{f: f}
	cmd := &cobra.Command{
		Use:   "run WORKFLOW_ID",
		Short: "Run a workflow with parameters (-F key=value, --input FILE)",
		Long: `Run a workflow. Its parameters (see 'mlab workflow show ID') go in with
-F key=value or --input params.json. With --wait mlab follows the execution
(pending, running, completed, failed, cancelled) and downloads the output
files with -o; a failed or cancelled execution exits 1.

` + exitCodesHelp,
		Example: `  $ mlab workflow run 5f1c9f1e-... -F prompt="a sunset over mountains" -F width=1024 --wait -o out/
  $ mlab workflow run 5f1c9f1e-... --input params.json --wait --json`,
		Args: exactArgs(1, "mlab workflow run takes one WORKFLOW_ID, got %d"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.WorkflowID = args[0]
			if err := opts.Job.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWorkflowRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Input, "input", "", "read the parameters from a JSON `FILE` (-F wins)")
	addJobFlags(cmd, &opts.Job)
	return cmd
}

func runWorkflowRun(ctx context.Context, o *WorkflowRunOptions) error {
	ep, _ := api.Lookup("workflow_run")
	ep = ep.WithPathParams(map[string]string{"workflow_id": o.WorkflowID})
	body, err := bodyFromInput(o.Input, o.Job.Fields, o.Job.RawFields, o.f.IO.In)
	if err != nil {
		return err
	}
	return runJob(ctx, o.f, &o.Job, &runner.Job{Endpoint: ep, PathParams: map[string]string{"workflow_id": o.WorkflowID}, Body: body}, "")
}

// bodyFromInput reads a JSON object from file (if any) and merges -F/-f over it.
func bodyFromInput(file string, typed, raw []string, stdin interface{ Read([]byte) (int, error) }) (map[string]any, error) {
	body := map[string]any{}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, flagErrorf("--input %s: %v", file, unwrapPathError(err))
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return nil, flagErrorf("--input %s: not a JSON object: %v", file, err)
		}
	}
	extra, err := parseFields(typed, raw, stdin)
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		body[k] = v
	}
	return body, nil
}

// simpleAPIOptions are the flags of the one-call workflow commands.
type simpleAPIOptions struct {
	JSON    bool
	Sandbox bool
}

func addSimpleAPIFlags(cmd *cobra.Command, o *simpleAPIOptions) {
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the API's JSON answer on stdout")
	cmd.Flags().BoolVar(&o.Sandbox, "sandbox", false, "use an in-process sandbox API (no key needed)")
}

// runWorkflowCall makes one workflow call (what it does, for errors) on
// the API the flags name and prints the answer: as sent with --json, else
// with human.
func runWorkflowCall(f *Factory, o *simpleAPIOptions, what string, call func(*api.Client) (json.RawMessage, error), human func(json.RawMessage) error) error {
	client, _, closeAPI, err := f.apiClient(apiChoice{Sandbox: o.Sandbox})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer closeAPI()
	raw, err := call(client)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if o.JSON {
		return printCompactJSON(f, raw)
	}
	return human(raw)
}

func newCmdWorkflowList(f *Factory) *cobra.Command {
	o := &simpleAPIOptions{}
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List your API-enabled workflows",
		Example: "  $ mlab workflow list\n  $ mlab workflow list --json | jq -r '.workflows[].id'",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWorkflowCall(f, o, "list workflows", func(c *api.Client) (json.RawMessage, error) {
				return c.ListWorkflows(cmd.Context())
			}, func(raw json.RawMessage) error {
				list, err := api.DecodeWorkflows(raw)
				if err != nil {
					return fmt.Errorf("list workflows: unexpected answer: %w", err)
				}
				return printWorkflows(f, list)
			})
		},
	}
	addSimpleAPIFlags(cmd, o)
	return cmd
}

func newCmdWorkflowShow(f *Factory) *cobra.Command {
	o := &simpleAPIOptions{}
	cmd := &cobra.Command{
		Use:     "show WORKFLOW_ID",
		Short:   "Show a workflow's parameters",
		Example: "  $ mlab workflow show 5f1c9f1e-...",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return flagErrorf("mlab workflow show takes one WORKFLOW_ID")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWorkflowCall(f, o, "show workflow "+args[0], func(c *api.Client) (json.RawMessage, error) {
				return c.ShowWorkflow(cmd.Context(), args[0])
			}, func(raw json.RawMessage) error {
				schema, err := api.DecodeWorkflowSchema(raw)
				if err != nil {
					return fmt.Errorf("show workflow: unexpected answer: %w", err)
				}
				return printWorkflowSchema(f, schema)
			})
		},
	}
	addSimpleAPIFlags(cmd, o)
	return cmd
}

func newCmdWorkflowCancel(f *Factory) *cobra.Command {
	o := &simpleAPIOptions{}
	cmd := &cobra.Command{
		Use:     "cancel WORKFLOW_ID EXECUTION_ID",
		Short:   "Cancel a running workflow execution",
		Example: "  $ mlab workflow cancel 5f1c9f1e-... 12345",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return flagErrorf("mlab workflow cancel takes WORKFLOW_ID and EXECUTION_ID")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWorkflowCall(f, o, "cancel execution "+args[1], func(c *api.Client) (json.RawMessage, error) {
				return c.CancelExecution(cmd.Context(), args[0], args[1])
			}, func(json.RawMessage) error {
				f.IO.Successf("cancelled execution %s of workflow %s", args[1], args[0])
				return nil
			})
		},
	}
	addSimpleAPIFlags(cmd, o)
	return cmd
}

// printWorkflows prints the workflow list as a table (with a header on a
// terminal).
func printWorkflows(f *Factory, list []api.Workflow) error {
	if len(list) == 0 {
		f.IO.Infof("no API-enabled workflows: enable one in the ModelsLab app first")
		return nil
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	if f.IO.IsStdoutTTY() {
		fmt.Fprintln(tw, "ID\tNAME\tCALLS\tDESCRIPTION")
	}
	for _, w := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w.ID, w.Name, w.CallCount, w.Description)
	}
	return tw.Flush()
}

// printWorkflowSchema prints a workflow and its parameters.
func printWorkflowSchema(f *Factory, schema *api.WorkflowSchema) error {
	fmt.Fprintf(f.IO.Out, "%s  %s\n", schema.Workflow.ID, schema.Workflow.Name)
	if schema.Workflow.Description != "" {
		fmt.Fprintln(f.IO.Out, schema.Workflow.Description)
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARAMETER\tTYPE\tREQUIRED\tNODE")
	for _, p := range schema.Parameters {
		req := "no"
		if p.Required {
			req = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Key, p.Type, req, p.NodeName)
	}
	return tw.Flush()
}

func printCompactJSON(f *Factory, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return fmt.Errorf("the API answered something that is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := f.IO.Out.Write(buf.Bytes())
	return err
}
