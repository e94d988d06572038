package cmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/listener"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/sandbox"
	"github.com/mlabcli/mlab/internal/tunnel"
	"github.com/spf13/cobra"
)

// JobOptions are the flags every job command shares: how to submit, whether
// and how to wait, and what to print.
type JobOptions struct {
	Fields       []string      // -F key=value (typed), @file, @-
	RawFields    []string      // -f key=value (always a string)
	TrackID      string        // --track-id; default generated
	Wait         bool          // --wait
	Timeout      time.Duration // --timeout
	OutputDir    string        // -o/--output-dir
	JSON         bool          // --json
	Tunnel       string        // --tunnel
	PublicURL    string        // --public-url
	Listen       string        // --listen
	Webhook      string        // --webhook (no --wait): the user's own receiver
	Sandbox      bool          // --sandbox
	PollInterval time.Duration // --poll-interval
	TunnelWait   time.Duration // --tunnel-timeout
}

func addJobFlags(cmd *cobra.Command, o *JobOptions) {
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Fields, "field", "F", nil, "add a body field `key=value` (true/false/null/numbers typed; @file reads a file, @- stdin)")
	fl.StringArrayVarP(&o.RawFields, "raw-field", "f", nil, "add a string body field `key=value`")
	fl.StringVar(&o.TrackID, "track-id", "", "track_id to send (default: generated)")
	fl.BoolVarP(&o.Wait, "wait", "w", false, "wait for the result (webhook or polling), then print or download it")
	fl.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "with --wait: give up after this long (exit 3; the job goes on)")
	fl.StringVarP(&o.OutputDir, "output-dir", "o", "", "download the outputs into `DIR` and print their paths")
	fl.BoolVar(&o.JSON, "json", false, "print one JSON object per job on stdout")
	fl.StringVar(&o.Tunnel, "tunnel", "", "webhook receiver: auto, ngrok, local or none (env MLAB_TUNNEL; default auto)")
	fl.StringVar(&o.PublicURL, "public-url", "", "your own public `URL` that forwards to --listen (reverse proxy, tunnel)")
	fl.StringVar(&o.Listen, "listen", "", "local `ADDR` for the webhook listener (default 127.0.0.1:0)")
	fl.StringVar(&o.Webhook, "webhook", "", "without --wait: send results to your own receiver `URL`")
	fl.BoolVar(&o.Sandbox, "sandbox", false, "run against an in-process sandbox API (no key needed)")
	fl.DurationVar(&o.PollInterval, "poll-interval", job.DefaultPollInterval, "first interval between polls (grows to 30s)")
	fl.DurationVar(&o.TunnelWait, "tunnel-timeout", 15*time.Second, "how long the ngrok tunnel may take to come up")
}

// validate checks the shared flags (usage errors exit 2).
func (o *JobOptions) validate() error {
	if o.Webhook != "" && o.Wait {
		return flagErrorf("--webhook sends the result to your own receiver, so mlab cannot wait for it: drop --wait, or use --public-url to receive it here")
	}
	if o.Webhook != "" {
		if u, err := url.Parse(o.Webhook); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return flagErrorf("--webhook %q: want an absolute http(s) URL", o.Webhook)
		}
	}
	if o.Timeout <= 0 {
		return flagErrorf("--timeout must be positive")
	}
	if o.PollInterval < 100*time.Millisecond {
		return flagErrorf("--poll-interval must be at least 100ms")
	}
	if !o.Wait {
		for _, f := range []struct{ name, v string }{{"--tunnel", o.Tunnel}, {"--public-url", o.PublicURL}, {"--listen", o.Listen}} {
			if f.v != "" {
				return flagErrorf("%s only makes sense with --wait", f.name)
			}
		}
	}
	if o.Tunnel != "" {
		if _, err := tunnel.ParseMode(o.Tunnel); err != nil {
			return flagErrorf("--tunnel: %v", err)
		}
	}
	return nil
}

// jobRun is one job: the endpoint, the body and the shared options.
type jobRun struct {
	f       *Factory
	opts    *JobOptions
	ep      api.Endpoint
	body    map[string]any
	baseURL string // set by runJob: the API actually used
}

// runJob is the spine every job command shares: config, receiver first,
// submit, wait, confirm, download, print.
func runJob(ctx context.Context, r *jobRun) error {
	f, o, ios := r.f, r.opts, r.f.IO
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	for k, v := range r.body {
		if s, ok := v.(string); ok && s == "" {
			delete(r.body, k)
		}
	}
	if missing := r.ep.Missing(r.body); len(missing) > 0 {
		return flagErrorf("%s needs %s (pass it with its flag or -F %s=...)", r.ep.Name, strings.Join(missing, ", "), missing[0])
	}
	inputs, err := localInputs(r.body)
	if err != nil {
		return err
	}

	client, baseURL, closeAPI, err := f.apiClient(o.Sandbox)
	if err != nil {
		return err
	}
	defer closeAPI()
	r.baseURL = baseURL
	if err := uploadInputs(ctx, client, r.body, inputs, ios.Infof); err != nil {
		return err
	}

	trackID := o.TrackID
	if trackID == "" {
		trackID = newTrackID()
	}
	r.body["track_id"] = trackID

	if !o.Wait {
		if o.Webhook != "" {
			r.body["webhook"] = o.Webhook
		}
		return r.submitOnly(ctx, client, trackID)
	}

	// Receiver first: the webhook URL must exist before the request is sent.
	recv, err := r.openReceiver(ctx, baseURL, cfg.NgrokAuthtoken, cfg.Tunnel)
	if err != nil {
		return err
	}
	defer recv.close()
	if recv.url != "" {
		r.body["webhook"] = recv.url
	}

	start := time.Now()
	resp, err := client.Submit(ctx, r.ep, r.body)
	if err != nil {
		return fmt.Errorf("submit %s: %w", r.ep.Name, err)
	}
	res := &output.Result{
		ID: resp.ID, TrackID: firstNonEmpty(resp.TrackID, trackID), Endpoint: r.ep.Name,
		Status: resp.Status, ETA: resp.ETA, Meta: resp.Meta,
	}
	if resp.State() == api.StateSuccess {
		res.Via = string(job.ViaImmediate)
		return r.finish(ctx, res, resp, start)
	}
	ios.Infof("submitted %s job %s (eta %s)%s", r.ep.Name, resp.ID, fmtSeconds(resp.ETA), recv.waitingFor())

	progress := ios.NewWaitProgress(r.ep.Name + " " + resp.ID)
	defer progress.Done()
	var progMu sync.Mutex
	phase, stage := "waiting", ""
	debug := f.DebugWriter()
	params := job.Params{
		ID:           resp.ID,
		TrackID:      trackID,
		ETA:          seconds(resp.ETA),
		FutureLinks:  resp.FutureLinks,
		Events:       recv.events,
		Timeout:      o.Timeout,
		PollInterval: o.PollInterval,
		Fetch: func(ctx context.Context) (*api.Response, error) {
			return client.Fetch(ctx, r.ep, resp.ID, resp.FetchURL)
		},
		Decode: func(b []byte) (*api.Response, error) { return api.DecodeFor(r.ep, b) },
		OnProgress: func(p job.Progress) {
			progMu.Lock()
			phase = p.Phase
			newStage := p.Stage != "" && p.Stage != stage
			stage = p.Stage
			progMu.Unlock()
			if newStage {
				// Training stages and workflow states are worth a line
				// of their own, on a terminal or not.
				ios.Infof("%s %s: %s (%s)", r.ep.Name, resp.ID, p.Stage, output.FormatDuration(p.Elapsed))
			}
			progress.Update(p.Elapsed, p.ETA, p.Phase)
			if debug != nil {
				fmt.Fprintf(debug, "job %s: %s after %s (%d fetches) %s", resp.ID, p.Phase, p.Elapsed.Round(time.Millisecond), p.Fetches, p.Note)
			}
		},
	}
	stopTicker := make(chan struct{})
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopTicker:
				return
			case <-t.C:
				progMu.Lock()
				ph := phase
				progMu.Unlock()
				progress.Update(time.Since(start), params.ETA, ph)
			}
		}
	}()
	result, werr := job.Wait(ctx, params)
	close(stopTicker)
	<-tickerDone
	progress.Done()

	if result != nil && result.Response != nil && result.Response.Stage != "" && result.Response.Stage != stage {
		ios.Infof("%s %s: %s (%s)", r.ep.Name, resp.ID, result.Response.Stage, output.FormatDuration(result.Elapsed))
	}
	if werr != nil {
		var failed *job.FailedError
		switch {
		case errors.As(werr, &failed):
			res.Status = "failed"
			res.Via = string(result.Via)
			res.Message = firstNonEmpty(failed.Response.Message, failed.Response.Stage)
			res.ElapsedMS = time.Since(start).Milliseconds()
			if r.opts.JSON {
				if err := output.PrintResult(ios, res, true); err != nil {
					return err
				}
			}
			return werr
		case errors.Is(werr, job.ErrTimeout), errors.Is(werr, context.Canceled):
			return r.stopped(res, resp, start, werr)
		}
		return fmt.Errorf("wait for job %s: %w", resp.ID, werr)
	}
	res.Via = string(result.Via)
	if debug != nil {
		fmt.Fprintf(debug, "job %s: done %s", resp.ID, result)
	}
	return r.finish(ctx, res, result.Response, start)
}

// apiClient returns the API client for this run: the configured API, or
// with sandbox an in-process sandbox (closed by the returned func).
func (f *Factory) apiClient(sandboxed bool) (*api.Client, string, func(), error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, "", nil, err
	}
	baseURL, key, closeFn := cfg.BaseURL, cfg.APIKey, func() {}
	if sandboxed {
		sb := sandbox.New(sandbox.Options{})
		base, err := sb.Start("127.0.0.1:0")
		if err != nil {
			return nil, "", nil, fmt.Errorf("start the sandbox: %w", err)
		}
		closeFn = func() { sb.Close() }
		baseURL = base
		if key == "" {
			key = "sandbox"
		}
		f.IO.Infof("using an in-process sandbox API at %s", base)
	} else if key == "" {
		return nil, "", nil, &ConfigError{
			Msg:  "no ModelsLab API key",
			Hint: fmt.Sprintf("set MODELSLAB_API_KEY, pass --api-key, or put {\"api_key\": \"...\"} in %s/config.json; or try --sandbox, which needs none", cfg.Dir),
		}
	}
	f.addSecret(key)
	clientOpts := []api.Option{api.WithUserAgent("mlab/" + f.Build.Version)}
	if w := f.DebugWriter(); w != nil {
		clientOpts = append(clientOpts, api.WithDebug(w))
	}
	return api.New(baseURL, key, clientOpts...), baseURL, closeFn, nil
}

// submitOnly is the no-wait path: submit, print the id (or the JSON), exit 0.
func (r *jobRun) submitOnly(ctx context.Context, client *api.Client, trackID string) error {
	ios := r.f.IO
	start := time.Now()
	resp, err := client.Submit(ctx, r.ep, r.body)
	if err != nil {
		return fmt.Errorf("submit %s: %w", r.ep.Name, err)
	}
	res := &output.Result{
		ID: resp.ID, TrackID: firstNonEmpty(resp.TrackID, trackID), Endpoint: r.ep.Name,
		Status: resp.Status, ETA: resp.ETA, Meta: resp.Meta, Output: resp.Output,
		Message: resp.Message, ElapsedMS: time.Since(start).Milliseconds(),
	}
	if resp.State() == api.StateSuccess {
		res.Via = string(job.ViaImmediate)
		return r.finish(ctx, res, resp, start)
	}
	if r.opts.JSON {
		return output.PrintResult(ios, res, true)
	}
	fmt.Fprintln(ios.Out, resp.ID)
	ios.Infof("submitted %s job %s (eta %s); track_id %s", r.ep.Name, resp.ID, fmtSeconds(resp.ETA), res.TrackID)
	return nil
}

// finish downloads (with -o) and prints a successful result.
func (r *jobRun) finish(ctx context.Context, res *output.Result, resp *api.Response, start time.Time) error {
	res.Status = "success"
	res.Output = resp.Output
	if r.ep.Family == api.FamilyTraining {
		res.ModelID = firstNonEmpty(resp.ModelID, res.ID)
	}
	if len(res.Output) == 0 {
		// Some success bodies carry only proxy links.
		res.Output = resp.ProxyLinks
	}
	if res.Message == "" {
		res.Message = resp.Message
	}
	if r.opts.OutputDir != "" && len(res.Output) > 0 {
		files, err := output.Download(ctx, r.f.IO, res.Output, r.opts.OutputDir, output.DownloadOptions{Progress: true})
		if err != nil {
			if ctx.Err() != nil {
				return &StoppedError{ID: res.ID, Err: ctx.Err()}
			}
			return &DownloadError{Err: err}
		}
		res.Files = files
	}
	res.ElapsedMS = time.Since(start).Milliseconds()
	return output.PrintResult(r.f.IO, res, r.opts.JSON)
}

// stopped reports a wait that ended before the job (timeout or Ctrl-C): the
// id goes to stdout (or the JSON with status processing) so a script keeps
// it, and stderr says how to follow up.
func (r *jobRun) stopped(res *output.Result, resp *api.Response, start time.Time, cause error) error {
	ios := r.f.IO
	res.Status = "processing"
	res.ElapsedMS = time.Since(start).Milliseconds()
	if r.opts.JSON {
		if err := output.PrintResult(ios, res, true); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(ios.Out, res.ID)
	}
	err := &StoppedError{ID: res.ID, Err: cause}
	code := exitCodeFor(err)
	fetch := resp.FetchURL
	if fetch == "" {
		fetch = r.ep.FetchURL(r.baseURL, res.ID)
	}
	output.PrintError(ios, err, fmt.Sprintf("job %s (track_id %s) keeps running at ModelsLab; fetch its result with a POST to %s", res.ID, res.TrackID, fetch), code, r.opts.JSON)
	return &silentError{code: code, err: err}
}

// receiver is the webhook side of one wait.
type receiver struct {
	url    string           // full webhook URL with the job's token; "" when polling only
	mode   tunnel.Mode      // the resolved tunnel mode
	events <-chan job.Event // nil when polling only
	close  func()
}

func (rc *receiver) waitingFor() string {
	if rc.url == "" {
		return "; polling for the result"
	}
	return "; waiting for its webhook (" + string(rc.mode) + ") and polling as a fallback"
}

// openReceiver opens the tunnel and the listener and registers this job's
// token. With --tunnel auto a loopback API (the sandbox, a local proxy) gets
// a loopback listener: it can reach it, and no tunnel is needed.
func (r *jobRun) openReceiver(ctx context.Context, baseURL, ngrokToken, cfgTunnel string) (*receiver, error) {
	f, o, ios := r.f, r.opts, r.f.IO
	mode, err := tunnel.ParseMode(firstNonEmpty(o.Tunnel, cfgTunnel))
	if err != nil {
		return nil, &ConfigError{Msg: "MLAB_TUNNEL: " + err.Error(), Hint: "use auto, ngrok, local or none"}
	}
	if mode == tunnel.ModeAuto && o.PublicURL == "" && isLoopbackURL(baseURL) {
		mode = tunnel.ModeLocal
	}
	if o.PublicURL != "" && (mode == tunnel.ModeAuto || mode == tunnel.ModeURL) {
		mode = tunnel.ModeURL
	}
	logger := slog.New(slog.DiscardHandler)
	if w := f.DebugWriter(); w != nil {
		logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ep, err := tunnel.Open(ctx, tunnel.Options{
		Mode:           mode,
		ListenAddr:     o.Listen,
		PublicURL:      o.PublicURL,
		Authtoken:      ngrokToken,
		ConnectTimeout: o.TunnelWait,
		Logger:         logger,
		Version:        f.Build.Version,
	})
	if err != nil {
		if errors.Is(err, tunnel.ErrNoAuthtoken) {
			return nil, &ConfigError{Msg: "--tunnel ngrok needs an ngrok authtoken", Hint: "set NGROK_AUTHTOKEN (https://dashboard.ngrok.com/get-started/your-authtoken), or use --tunnel local/none"}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("open the webhook receiver: %w", err)
	}
	if ep.Notice != "" {
		ios.Infof("%s", ep.Notice)
	}
	rc := &receiver{mode: ep.Mode, close: func() { ep.Close() }}
	if ep.Listener == nil {
		return rc, nil
	}

	debug := f.DebugWriter()
	l := listener.New(listener.Options{OnReject: func(rej listener.Rejection) {
		if debug != nil {
			fmt.Fprintf(debug, "webhook listener: %s %s from %s answered %d (%s)", rej.Method, rej.Path, rej.RemoteAddr, rej.Status, rej.Reason)
		}
	}})
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		l.Serve(ep.Listener)
	}()
	token, err := listener.NewToken()
	if err != nil {
		ep.Close()
		return nil, err
	}
	deliveries, unregister, err := l.Register(token)
	if err != nil {
		ep.Close()
		return nil, err
	}
	events := make(chan job.Event, listener.DefaultBuffer)
	copyDone := make(chan struct{})
	go func() {
		defer close(copyDone)
		defer close(events)
		for d := range deliveries {
			if debug != nil {
				fmt.Fprintf(debug, "webhook listener: delivery of %d bytes from %s", len(d.Body), d.RemoteAddr)
			}
			select {
			case events <- job.Event{Body: d.Body, ReceivedAt: d.ReceivedAt}:
			default: // the wait is over or swamped: later deliveries are acknowledged and ignored
			}
		}
	}()
	rc.url = ep.URL + "/" + token
	rc.events = events
	rc.close = func() {
		unregister()
		<-copyDone
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.Shutdown(sctx)
		ep.Close()
		<-serveDone
	}
	if ep.Mode == tunnel.ModeNgrok {
		// A fresh ngrok endpoint 404s at the edge for a moment.
		if err := tunnel.WaitReady(ctx, http.DefaultClient, rc.url, o.TunnelWait); err != nil {
			ios.Warnf("the ngrok tunnel is not routable yet (%v); polling for the result", err)
			rc.close()
			return &receiver{mode: tunnel.ModeNone, close: func() {}}, nil
		}
	}
	return rc, nil
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newTrackID() string {
	var b [8]byte
	rand.Read(b[:])
	return "mlab-" + hex.EncodeToString(b[:])
}

func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

func fmtSeconds(s float64) string {
	if s <= 0 {
		return "unknown"
	}
	return seconds(s).Round(100 * time.Millisecond).String()
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
