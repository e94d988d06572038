package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/sandbox"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// SandboxOptions are the flags of `mlab sandbox`.
type SandboxOptions struct {
	f    *Factory
	Addr string
	sandbox.Options
}

func newCmdSandbox(f *Factory, runF func(context.Context, *SandboxOptions) error) *cobra.Command {
	opts := &SandboxOptions{f: f}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local ModelsLab-compatible API for trying mlab and for tests",
		Long: `Run a local ModelsLab-compatible API. It answers with the real payload shapes
(integer ids, "messege", eta, fetch_result, future_links, escaped slashes),
posts webhooks when jobs finish, and serves real PNG files as outputs. No key
is checked unless --key is given.

It speaks the v7 unified API too: the 16 /api/v7/{images,video-fusion,voice}
paths with string ids, no fetch_result (and no future_links for sora-2,
veo-3.1-fast, lipsync-2, scribe_v1), the key in the body or the "key"
header, HTTP 200 {"status":"error"} refusals without an id (model_id
"provider-error", a missing field, or --v7-submit-error), and model
discovery (GET /api/v7/models, /api/v6/model-search[/ID]).

Job ids start at a random 9-digit number per sandbox (so that runs against
fresh sandboxes do not reuse ids in your journal and output directories);
--first-id fixes it.

Big, slow outputs, to watch download progress offline: --file-size pads every
output file to SIZE (e.g. 50MB) and --file-rate serves the files at RATE
(e.g. 5MB/s), so a job's download takes SIZE/RATE seconds:
  mlab sandbox --file-size 50MB --file-rate 5MB/s

Point mlab (or your own code) at it with MODELSLAB_BASE_URL. The base URL is
printed on stdout; requests and webhooks are logged on stderr. Job commands
also take --sandbox, which starts one in-process for that run (its jobs end
with the command).`,
		Example: `  $ mlab sandbox --addr 127.0.0.1:8765 --delay 5s &
  $ MODELSLAB_BASE_URL=http://127.0.0.1:8765 MODELSLAB_API_KEY=test-key \
      mlab img "a lighthouse" --wait --tunnel local

  # a webhook that never arrives: mlab must finish by polling
  $ mlab sandbox --drop-webhooks

  # 50 MB outputs served at 5 MB/s: ten seconds of download progress
  $ mlab sandbox --file-size 50MB --file-rate 5MB/s --addr 127.0.0.1:8765 &
  $ MODELSLAB_BASE_URL=http://127.0.0.1:8765 MODELSLAB_API_KEY=test-key mlab img x --wait -o out/`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSandbox(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Addr, "addr", "127.0.0.1:8765", "address to listen on")
	SandboxFlags(cmd.Flags(), &opts.Options)
	return cmd
}

// SandboxFlags binds the sandbox's knobs to fs; `mlab sandbox` and the
// end-to-end test harness share it so they cannot drift apart.
func SandboxFlags(fl *pflag.FlagSet, o *sandbox.Options) {
	durationFlag(fl, &o.Delay, "delay", 2*time.Second, "how long each job runs")
	durationFlag(fl, &o.ETA, "eta", 0, "eta to report on submit (default: --delay)")
	fl.Float64Var(&o.ETAError, "eta-error", 0, "report each job's eta off by up to this share of its true duration (0.3: ±30%, seeded)")
	durationFlag(fl, &o.SubmitDelay, "submit-delay", 0, "answer each generation submit this long after the job was created")
	fl.Var(&byteSize{&o.FileSize}, "file-size", "pad every output file to at least `SIZE` (e.g. 50MB): big downloads offline")
	fl.Var(&byteSize{&o.FileRate}, "file-rate", "serve output files at `RATE` bytes per second (e.g. 5MB/s; 0: full speed): slow downloads, to watch their progress")
	fl.Int64Var(&o.FirstID, "first-id", 0, "first job `ID` (0: a random 9-digit one)")
	fl.BoolVar(&o.DropWebhooks, "drop-webhooks", false, "never send webhooks (clients must poll)")
	fl.BoolVar(&o.DuplicateWebhooks, "duplicate-webhooks", false, "send every webhook twice")
	durationFlag(fl, &o.WebhookDelay, "webhook-delay", 0, "send webhooks this long after the job is done")
	fl.BoolVar(&o.WebhookFirst, "webhook-first", false, "a job is done to fetches and to probes of its files (HEAD, ranged GET) only once its webhook has been answered: the webhook path wins on a loaded machine too")
	fl.BoolVar(&o.Fail, "fail", false, "every job ends failed")
	fl.StringVar(&o.FailMessage, "fail-message", "", "the reason failed jobs give")
	fl.BoolVar(&o.Immediate, "immediate", false, "answer submits with the finished result at once")
	fl.IntVar(&o.RateLimit, "rate-limit", 0, "answer the first N submits with 429 and retry_after")
	durationFlag(fl, &o.RetryAfter, "retry-after", time.Second, "retry_after sent with --rate-limit")
	fl.StringVar(&o.Key, "key", "", "accept only this API key (default: any non-empty key)")
	fl.BoolVar(&o.StringIDs, "string-ids", false, "send ids as strings instead of integers")
	fl.BoolVar(&o.V7SubmitError, "v7-submit-error", false, "answer every v7 submit like a provider refusal: HTTP 200 {\"status\":\"error\",\"code\":\"provider_error\"}, no id, no job")
	fl.BoolVar(&o.CancelWorkflows, "cancel-workflows", false, "every workflow execution ends cancelled")
	fl.StringVar(&o.WorkflowWebhookShape, "workflow-webhook-shape", "flat", "workflow webhook shape: flat or nested (both are documented)")
	durationFlag(fl, &o.DelayMax, "delay-max", 0, "when above --delay, each job runs a random time between --delay and this")
	fl.Float64Var(&o.DropWebhookRate, "drop-webhook-rate", 0, "share of jobs (0-1) whose webhook is never sent")
	fl.Float64Var(&o.DuplicateWebhookRate, "duplicate-webhook-rate", 0, "share of jobs (0-1) whose webhook is sent twice")
	fl.Float64Var(&o.LateWebhookRate, "late-webhook-rate", 0, "share of jobs (0-1) whose webhook comes --late-webhook-delay after the job is done")
	durationFlag(fl, &o.LateWebhookDelay, "late-webhook-delay", 10*time.Second, "how late a late webhook is")
	fl.Float64Var(&o.ProxyWebhookRate, "proxy-webhook-rate", 0, "share of jobs (0-1) whose success webhook lists proxy links instead of the announced future links")
	fl.Float64Var(&o.FetchErrorRate, "fetch-error-rate", 0, "share of fetches (0-1) answered 500, 502 or 503 with a JSON or HTML body")
	fl.IntVar(&o.HeadStatus, "head-status", 0, "answer every HEAD of an output file with this `STATUS` (403, 405: a CDN that refuses HEAD)")
	fl.IntVar(&o.ProbeRateLimit, "probe-rate-limit", 0, "answer at most N probes of output files (HEAD, ranged GET) a second; the rest get 429")
	fl.Float64Var(&o.ProbeErrorRate, "probe-error-rate", 0, "share of probes of output files (0-1) answered 503")
	fl.IntVar(&o.RateLimitBurst, "rate-limit-burst", 0, "answer this many submits with 429 after every --rate-limit-every accepted ones")
	fl.IntVar(&o.RateLimitEvery, "rate-limit-every", 0, "accepted submits between two --rate-limit-burst bursts")
	fl.IntVar(&o.QueueLimit, "queue-limit", 0, "at most this many jobs processing at once; submits over it get 429")
	fl.Int64Var(&o.Seed, "seed", 0, "seed of the random fault knobs, to replay a run (0: random, logged)")
	fl.BoolVar(&o.NoRecord, "no-record", false, "do not keep request bodies for /_sandbox/requests (soaks)")
}

func runSandbox(ctx context.Context, opts *SandboxOptions) error {
	ios := opts.f.IO
	opts.Options.Logf = func(format string, a ...any) {
		ios.Infof("%s", opts.f.redact(fmt.Sprintf(format, a...)))
	}
	if opts.Key != "" {
		opts.f.addSecret(opts.Key)
	}
	srv := sandbox.New(opts.Options)
	base, err := srv.Start(opts.Addr)
	if err != nil {
		return &ConfigError{Msg: fmt.Sprintf("start sandbox on %s: %v", opts.Addr, err), Hint: "pick a free address with --addr (e.g. --addr 127.0.0.1:0)"}
	}
	defer srv.Close()
	// The URL once: on stdout for scripts; stderr names it only when
	// stdout is not the terminal that shows both.
	fmt.Fprintln(ios.Out, base)
	if ios.IsStdoutTTY() && ios.IsStderrTTY() {
		ios.Infof("sandbox API listening at the URL above (Ctrl-C to stop); set MODELSLAB_BASE_URL to it and MODELSLAB_API_KEY=%s", keyHint(opts.Key))
	} else {
		ios.Infof("sandbox API listening (Ctrl-C to stop); use it with: export MODELSLAB_BASE_URL=%s MODELSLAB_API_KEY=%s", base, keyHint(opts.Key))
	}
	<-ctx.Done()
	ios.Infof("sandbox stopped")
	return nil
}

func keyHint(k string) string {
	if k != "" {
		return "<the --key value>"
	}
	return "sandbox-key" // any key of MinKeyLength or more
}

// byteSize is a flag holding a size with units (output.ParseBytes).
type byteSize struct{ v *int64 }

func (b *byteSize) String() string {
	if b.v == nil || *b.v == 0 {
		return "0"
	}
	return output.FormatBytes(*b.v)
}

func (b *byteSize) Set(s string) error {
	n, err := output.ParseBytes(s)
	if err != nil {
		return err
	}
	*b.v = n
	return nil
}

func (b *byteSize) Type() string { return "size" }
