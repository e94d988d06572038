package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/config"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// The wiring of job commands: flags → runner.Options. Everything a job
// command's jobs share is opened here, before any submit: the API client,
// the journal and, with --wait, one webhook receiver (one tunnel, one
// listener; a path token per job).

// apiChoice says which API a command talks to.
type apiChoice struct {
	Sandbox bool   // an in-process sandbox API (--sandbox given), no key needed
	Resume  bool   // a journalled job's API: BaseURL, with the key only where it may go
	BaseURL string // for Resume: the journalled base URL ("" means the configured one)
	// Offline, for Resume: the job needs no API call (it finished), so
	// where it was submitted does not matter and no key is sent.
	Offline bool
}

// apiClient returns the API client for t, its base URL, and what closes it
// (an in-process sandbox).
func (f *Factory) apiClient(t apiChoice) (*api.Client, string, func(), error) {
	cfg, err := f.configFor(t.Sandbox)
	if err != nil {
		return nil, "", nil, err
	}
	baseURL, key, closeFn := cfg.BaseURL, cfg.APIKey, func() {}
	switch {
	case t.Sandbox:
		sb := sandbox.New(sandbox.Options{})
		base, err := sb.Start("127.0.0.1:0")
		if err != nil {
			return nil, "", nil, fmt.Errorf("start the sandbox: %w", err)
		}
		closeFn = func() { sb.Close() }
		// The sandbox takes any key: the configured one stays home.
		baseURL, key = base, "sandbox"
		f.IO.Infof("using an in-process sandbox API at %s", base)
	case t.Resume && t.Offline:
		return api.New(t.BaseURL, ""), t.BaseURL, closeFn, nil
	case t.Resume:
		if baseURL, err = runner.ResumeBase(t.BaseURL, cfg.BaseURL); err != nil {
			return nil, "", nil, resumeBaseError(err)
		}
	}
	if key == "" {
		hint := fmt.Sprintf("set MODELSLAB_API_KEY, pass --api-key, or put {\"api_key\": \"...\"} in %s/config.json; or try --sandbox, which needs none", cfg.Dir)
		if t.Resume {
			hint = "set MODELSLAB_API_KEY or pass --api-key"
		}
		return nil, "", nil, &ConfigError{Msg: "no ModelsLab API key", Hint: hint}
	}
	if !t.Sandbox {
		f.addSecret(key)
	}
	opts := []api.Option{api.WithUserAgent("mlab/" + f.Build.Version), api.WithRetryNotify(f.showRetry)}
	if w := f.DebugWriter(); w != nil {
		opts = append(opts, api.WithDebug(w))
	}
	if f.seams != nil && f.seams.apiHTTP != nil {
		opts = append(opts, api.WithHTTPClient(f.seams.apiHTTP))
	}
	return api.New(baseURL, key, opts...), baseURL, closeFn, nil
}

// configFor is the configuration of a command; with sandbox (a --sandbox
// run needs no key, no base URL, no config file) a broken or unreadable
// config is passed over: only the environment's tunnel settings count.
func (f *Factory) configFor(sandbox bool) (*config.Config, error) {
	cfg, err := f.Config()
	if err != nil && sandbox {
		if w := f.DebugWriter(); w != nil {
			fmt.Fprintf(w, "config not used with --sandbox: %v", err)
		}
		return &config.Config{Tunnel: f.Getenv(config.EnvTunnel), NgrokAuthtoken: f.Getenv(config.EnvNgrokToken)}, nil
	}
	return cfg, err
}

// resumeBaseError says why a journalled job is not polled with the key,
// and how to do it anyway.
func resumeBaseError(err error) error {
	var other *runner.OtherAPIError
	if errors.As(err, &other) {
		return &ConfigError{Msg: err.Error(), Hint: fmt.Sprintf("if you trust it, poll it there with: MODELSLAB_BASE_URL=%s mlab wait ...", shellQuote(other.Recorded))}
	}
	return &ConfigError{Msg: err.Error(), Hint: "a --sandbox job cannot be resumed; run it again with --sandbox"}
}

// runnerOptions maps the job flags onto the runner's options, with the
// downloads (progress on stderr) and the --debug log injected. The
// command's --timeout is its context's deadline, not a runner option.
func (f *Factory) runnerOptions(o *JobOptions) runner.Options {
	ro := runner.Options{
		Wait: o.Wait, PollInterval: o.PollInterval, OutputDir: o.OutputDir, Started: o.started,
		ProbeRate: cmp.Or(o.ProbeRate, -1), // the flag's 0 means off
		Download: func(ctx context.Context, urls []string, dir string, d runner.DownloadOptions) ([]string, error) {
			return output.Download(ctx, f.IO, urls, dir, o.Out.download(output.DownloadOptions{Progress: d.Progress, ExpectMedia: d.Media, MaxBytes: o.maxBytes}, d))
		},
	}
	if w := f.DebugWriter(); w != nil {
		ro.Debug = func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	}
	return ro
}

// openRunner opens what a job command's jobs share and returns the runner
// and the function that closes it all in reverse order (receiver, then the
// journal, then an in-process sandbox).
func openRunner(ctx context.Context, f *Factory, o *JobOptions, batchID string) (*runner.Runner, func(), error) {
	cfg, err := f.configFor(o.Sandbox)
	if err != nil {
		return nil, nil, err
	}
	client, baseURL, closeAPI, err := f.apiClient(apiChoice{Sandbox: o.Sandbox})
	if err != nil {
		return nil, nil, err
	}
	closers := []func(){closeAPI}
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	ro := f.runnerOptions(o)
	ro.Client, ro.BaseURL, ro.BatchID, ro.Sandbox, ro.QueueRetry = client, baseURL, batchID, o.Sandbox, o.Batch != ""
	// The journal is opened before anything is submitted: a paid job must
	// be written down before its submit leaves. A journal that cannot be
	// opened does not stop the job; the warning says what is lost.
	if jr, err := openHistoryJournal(f); err != nil {
		f.IO.Warnf("job journal unavailable (%v): an interrupted wait cannot be resumed with 'mlab wait'", err)
	} else {
		ro.Journal = jr
		closers = append(closers, func() { jr.Close() })
	}
	if u := f.relayURL(o.Relay); o.Wait && u != "" {
		jr, err := openJobRelay(ctx, f, u, false, "")
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		if jr != nil { // nil: no live relay, said once; poll and watch links
			ro.Relay, ro.RelayURL = jr.w, jr.url
			closers = append(closers, jr.Close)
		}
	} else if o.Wait {
		recv, err := openReceiver(ctx, f, o, baseURL, cfg.NgrokAuthtoken, cfg.Tunnel)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		ro.Receiver = recv
		closers = append(closers, recv.Close)
	}
	return runner.New(ro), closeAll, nil
}

// resumeRunner is a poll-only runner on the API journalled jobs were
// submitted to (baseURL; the key goes there only when it is the
// configured API), writing their ends to jr (nil: nowhere). offline says
// no API call is needed (finished jobs).
func resumeRunner(f *Factory, o *JobOptions, baseURL string, offline bool, jr *journal.Journal, batchID string) (*runner.Runner, error) {
	client, base, _, err := f.apiClient(apiChoice{Resume: true, BaseURL: baseURL, Offline: offline})
	if err != nil {
		return nil, err
	}
	ro := f.runnerOptions(o)
	ro.Client, ro.BaseURL, ro.Journal, ro.BatchID, ro.QueueRetry = client, base, jr, batchID, batchID != ""
	if o.relay != nil {
		ro.Relay, ro.RelayURL = o.relay.w, o.relay.url
	}
	return runner.New(ro), nil
}
