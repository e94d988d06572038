package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/config"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/sandbox"
	"github.com/spf13/cobra"
)

// maxClockSkew is how far this machine's clock may be from the API's before
// doctor warns.
const maxClockSkew = 2 * time.Minute

// requestCountPath is the cheapest authenticated call: it answers how many
// of the key's jobs are processing, and 401 for a bad key.
const requestCountPath = "/api/v6/processing/request_count"

// DoctorOptions are the flags of `mlab doctor`.
type DoctorOptions struct {
	f             *Factory
	Sandbox       bool          // --sandbox
	JSON          bool          // --json
	Timeout       time.Duration // --timeout: bound on the API call and on the webhook's arrival
	TunnelTimeout time.Duration // --tunnel-timeout: bound on the ngrok tunnel coming up
	Relay         string        // --relay URL (env MLAB_RELAY): also check the webhook relay

	// Test seams: extra tunnel options (a fake ngrok ingress) and the HTTP
	// client that sends the test webhook through the ngrok tunnel.
	tunnelOpts    func(*receiver.TunnelOptions)
	webhookClient *http.Client
}

func newCmdDoctor(f *Factory, runF func(context.Context, *DoctorOptions) error) *cobra.Command {
	o := &DoctorOptions{f: f}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the API key, ngrok, the webhook path, the clock and the config file",
		Long: `Check that mlab can work here, and say what to fix:

  config file     readable, valid JSON, mode 0600 (a warning if others can read it)
  API key         one cheap authenticated call (POST ` + requestCountPath + `)
  clock           this machine's clock against the API's Date header (warns past 2m)
  ngrok           the authtoken is set and, if so, a tunnel opens within --tunnel-timeout
  webhook         a receiver opens (through the ngrok tunnel when there is one, else on
                  loopback) and a webhook sent to it arrives

Each check prints one line, ✓ (fine), ! (a warning: mlab still works) or ✗ (a
problem), with what to do about it. Exit status: 0 when nothing failed
(warnings allowed), 2 for a configuration problem (no key, broken config file,
bad tunnel setting), 4 when the API rejects the key or cannot be reached, or
the tunnel or webhook check fails.`,
		Example: `  $ mlab doctor
  $ mlab doctor --sandbox                 # against an in-process sandbox API
  $ mlab doctor --json | jq '.checks[] | select(.status != "ok")'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Timeout <= 0 || o.TunnelTimeout <= 0 {
				return flagErrorf("--timeout and --tunnel-timeout must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runDoctor(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Sandbox, "sandbox", false, "check against an in-process sandbox API (no key needed)")
	fl.BoolVar(&o.JSON, "json", false, "print the checks as one JSON object on stdout")
	durationFlag(fl, &o.Timeout, "timeout", 15*time.Second, "bound on the API call and on the test webhook's arrival")
	durationFlag(fl, &o.TunnelTimeout, "tunnel-timeout", 10*time.Second, "how long the ngrok tunnel may take to come up")
	fl.StringVar(&o.Relay, "relay", "", "also check the webhook relay at Redis `URL`: reachable, auth, a live relay, a round trip (env MLAB_RELAY)")
	return cmd
}

// Check statuses.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "fail"
)

// doctorCheck is one line of the report.
type doctorCheck struct {
	Name    string `json:"name"`
	Status  string `json:"status"` // ok, warn or fail
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	code    int    // for a failure: ExitUsage (configuration) or ExitAPI
}

// doctorReport collects and prints the checks as they finish.
type doctorReport struct {
	o      *DoctorOptions
	checks []doctorCheck
}

func (r *doctorReport) add(c doctorCheck) {
	f := r.o.f
	c.Message, c.Hint = f.redact(c.Message), f.redact(c.Hint)
	r.checks = append(r.checks, c)
	if r.o.JSON {
		return
	}
	st := f.IO.Styles()
	mark := st.Success.Render("✓")
	switch c.Status {
	case checkWarn:
		mark = st.Warn.Render("!")
	case checkFail:
		mark = st.Error.Render("✗")
	}
	line := fmt.Sprintf("%s %s: %s", mark, st.Bold.Render(c.Name), c.Message)
	if c.Hint != "" && c.Status != checkOK {
		line += "\n    " + st.Muted.Render("fix: "+c.Hint)
	}
	f.IO.Infof("%s", line)
}

func (r *doctorReport) ok(name, format string, a ...any) {
	r.add(doctorCheck{Name: name, Status: checkOK, Message: fmt.Sprintf(format, a...)})
}

func (r *doctorReport) warn(name, hint, format string, a ...any) {
	r.add(doctorCheck{Name: name, Status: checkWarn, Message: fmt.Sprintf(format, a...), Hint: hint})
}

func (r *doctorReport) fail(code int, name, hint, format string, a ...any) {
	r.add(doctorCheck{Name: name, Status: checkFail, Message: fmt.Sprintf(format, a...), Hint: hint, code: code})
}

// exitCode is 2 when any configuration check failed, else 4 when any other
// check failed, else 0.
func (r *doctorReport) exitCode() int {
	code := ExitOK
	for _, c := range r.checks {
		if c.Status != checkFail {
			continue
		}
		if c.code == ExitUsage {
			return ExitUsage
		}
		code = ExitAPI
	}
	return code
}

func runDoctor(ctx context.Context, o *DoctorOptions) error {
	r := &doctorReport{o: o}
	if cfg := doctorConfig(o.f, r); cfg != nil {
		base, closeAPI := doctorAPI(ctx, o, cfg, r)
		defer closeAPI()
		doctorWebhook(ctx, o, doctorNgrok(ctx, o, cfg, base, r), r)
	}
	doctorRelay(ctx, o, r)
	code := r.exitCode()
	if err := r.summary(code); err != nil {
		return err
	}
	if code != ExitOK {
		return quietExit(code, errors.New("mlab doctor found problems"))
	}
	return nil
}

// summary prints the JSON report (--json) or the closing line.
func (r *doctorReport) summary(code int) error {
	f := r.o.f
	if r.o.JSON {
		b, err := json.Marshal(struct {
			OK       bool          `json:"ok"`
			ExitCode int           `json:"exit_code"`
			Checks   []doctorCheck `json:"checks"`
		}{code == ExitOK, code, r.checks})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f.IO.Out, "%s\n", b)
		return err
	}
	warnings, problems := 0, 0
	for _, c := range r.checks {
		switch c.Status {
		case checkWarn:
			warnings++
		case checkFail:
			problems++
		}
	}
	switch {
	case problems > 0:
		f.IO.Infof("%s: fix and run mlab doctor again", output.Plural(problems, "problem", "problems"))
	case warnings > 0:
		f.IO.Infof("mlab is ready to use (%s)", output.Plural(warnings, "warning", "warnings"))
	default:
		f.IO.Infof("mlab is ready to use")
	}
	return nil
}

// doctorConfig checks the config file and the resolved settings. It returns
// nil when the configuration cannot be used at all.
func doctorConfig(f *Factory, r *doctorReport) *config.Config {
	const name = "config file"
	dir, err := config.Dir(f.Getenv)
	if err != nil {
		r.fail(ExitUsage, name, "set "+config.EnvConfigDir+" to a writable directory", "%v", err)
		return nil
	}
	path := config.Path(dir)
	st, statErr := os.Stat(path)
	if _, err := config.Load(dir); err != nil {
		r.fail(ExitUsage, name, "fix the JSON in "+path+", or delete it and use mlab config set", "%v", err)
		return nil
	}
	switch {
	case errors.Is(statErr, fs.ErrNotExist):
		r.ok(name, "none at %s (settings come from flags and the environment)", path)
	case statErr != nil:
		r.fail(ExitUsage, name, "check the permissions of "+dir, "%v", statErr)
		return nil
	case runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0:
		r.warn(name, "chmod 600 "+path, "%s is mode %04o: other users can read your keys", path, st.Mode().Perm())
	default:
		r.ok(name, "%s (mode %04o)", path, st.Mode().Perm())
	}
	cfg, err := f.Config()
	if err != nil {
		r.fail(ExitUsage, name, "", "%v", err)
		return nil
	}
	if _, err := receiver.ParseMode(cfg.Tunnel); err != nil {
		r.fail(ExitUsage, "tunnel setting", "set "+config.EnvTunnel+" or the config key tunnel to auto, ngrok, local or none", "%v", err)
	}
	return cfg
}

// dateRecorder remembers the Date header of the last response and when it
// arrived, for the clock check.
type dateRecorder struct {
	rt      http.RoundTripper
	mu      sync.Mutex
	date    time.Time
	arrived time.Time
}

func (d *dateRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.rt.RoundTrip(req)
	if err == nil {
		if t, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
			d.mu.Lock()
			d.date, d.arrived = t, time.Now()
			d.mu.Unlock()
		}
	}
	return resp, err
}

func (d *dateRecorder) last() (date, arrived time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.date, d.arrived
}

// doctorAPI checks the key with one cheap call, then the clock against the
// answer's Date header. It returns the API base URL in use.
func doctorAPI(ctx context.Context, o *DoctorOptions, cfg *config.Config, r *doctorReport) (base string, closeAPI func()) {
	t := apiTarget{base: cfg.BaseURL, key: cfg.APIKey, fromConfig: cfg.APIKey != ""}
	t.source = map[string]string{"flag": "--api-key", "env": config.EnvAPIKey, "file": "the config file"}[cfg.APIKeySource]
	closeAPI = func() {}
	if o.Sandbox {
		sb := sandbox.New(sandbox.Options{})
		sbBase, err := sb.Start("127.0.0.1:0")
		if err != nil {
			r.fail(ExitAPI, "API key", "", "start the sandbox: %v", err)
			return t.base, closeAPI
		}
		t.base, closeAPI = sbBase, func() { sb.Close() }
		if t.key == "" {
			t.key, t.source = "sandbox", "the sandbox, which takes any key"
		}
	}
	if t.key == "" {
		r.fail(ExitUsage, "API key", "set MODELSLAB_API_KEY, or run mlab config set api_key (keys: https://modelslab.com/dashboard/api-keys); or try mlab doctor --sandbox", "no API key")
		r.warn("clock", "", "not checked (no API key, no API call)")
		return t.base, closeAPI
	}
	rec := &dateRecorder{rt: http.DefaultTransport}
	err := doctorKey(ctx, o, t, rec, r)
	doctorClock(rec, err, t.base, r)
	return t.base, closeAPI
}

// apiTarget is the API and key doctor checks, and where the key came from.
type apiTarget struct {
	base, key, source string
	fromConfig        bool // the key is the user's (not the sandbox's stand-in): show it masked
}

// doctorKey makes the one authenticated call through rec and reports what
// it says about the key. It returns the call's error.
func doctorKey(ctx context.Context, o *DoctorOptions, t apiTarget, rec *dateRecorder, r *doctorReport) error {
	const name = "API key"
	f := o.f
	// f.Config registered the key for redaction; the sandbox's stand-in is no secret.
	clientOpts := []api.Option{
		api.WithHTTPClient(&http.Client{Transport: rec, Timeout: o.Timeout}),
		api.WithRetry(1, 0), // one call: doctor reports, it does not insist
		api.WithUserAgent("mlab/" + f.Build.Version),
	}
	if w := f.DebugWriter(); w != nil {
		clientOpts = append(clientOpts, api.WithDebug(w))
	}
	raw, err := api.New(t.base, t.key, clientOpts...).Call(ctx, http.MethodPost, requestCountPath, api.AuthBody, nil)
	masked := ""
	if m := config.Mask(t.key); m != "…" && t.fromConfig {
		masked = " " + m
	}
	var ae *api.Error
	switch {
	case err == nil:
		var body struct {
			Count json.Number `json:"processing_count"`
		}
		_ = json.Unmarshal(raw, &body)
		detail := ""
		if body.Count != "" {
			detail = fmt.Sprintf("; %s job(s) processing", body.Count)
		}
		r.ok(name, "key%s (from %s) accepted by %s%s", masked, t.source, t.base, detail)
	case errors.As(err, &ae) && ae.Kind == api.KindAuth:
		r.fail(ExitAPI, name, "the key from "+t.source+" is wrong or revoked: copy it again from https://modelslab.com/dashboard/api-keys into "+config.EnvAPIKey+" or mlab config set api_key",
			"key%s (from %s) rejected by %s: %s", masked, t.source, t.base, strings.TrimPrefix(err.Error(), "POST "+requestCountPath+": "))
	case errors.As(err, &ae):
		r.fail(ExitAPI, name, ae.Hint(), "could not check the key against %s: %s", t.base, strings.TrimPrefix(err.Error(), "POST "+requestCountPath+": "))
	case ctx.Err() != nil:
		r.fail(ExitAPI, name, "", "interrupted")
	default:
		r.fail(ExitAPI, name, "check your network and MODELSLAB_BASE_URL", "could not check the key against %s: %v", t.base, err)
	}
	return err
}

// doctorClock compares this machine's clock with the Date header of the
// API's answer (callErr: the call's error, for why there is none).
func doctorClock(rec *dateRecorder, callErr error, base string, r *doctorReport) {
	date, arrived := rec.last()
	switch {
	case date.IsZero() && callErr != nil:
		r.warn("clock", "", "not checked (no answer from %s)", base)
		return
	case date.IsZero():
		r.warn("clock", "", "not checked (no Date header from %s)", base)
		return
	}
	// Date is truncated to the second: the API's time was in
	// [date, date+1s) when it answered.
	skew := arrived.Sub(date.Add(500 * time.Millisecond))
	abs := skew.Abs()
	if abs <= maxClockSkew {
		r.ok("clock", "within %s of the API's", max(abs.Round(time.Second), time.Second))
		return
	}
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	r.warn("clock", "sync this machine's clock (e.g. timedatectl set-ntp true); expiry times of links and jobs are judged by it",
		"this machine's clock is %s %s the API's", abs.Round(time.Second), dir)
}

// doctorNgrok checks the ngrok authtoken and, when there is one, opens a
// receiver through an ngrok tunnel within --tunnel-timeout (its readiness is
// the webhook check's to probe). It returns the open receiver (the webhook
// check closes it) or nil.
func doctorNgrok(ctx context.Context, o *DoctorOptions, cfg *config.Config, base string, r *doctorReport) *receiver.Receiver {
	const name = "ngrok"
	token := cfg.NgrokAuthtoken
	if token == "" {
		mode, _ := receiver.ParseMode(cfg.Tunnel)
		switch {
		case receiver.IsLoopbackURL(base):
			r.ok(name, "no authtoken (not needed: the API at %s is on this machine)", base)
		case mode == receiver.ModeNone || mode == receiver.ModeLocal:
			r.ok(name, "no authtoken (not needed: tunnel is set to %s)", mode)
		default:
			r.warn(name, "set NGROK_AUTHTOKEN or run mlab config set ngrok_authtoken (https://dashboard.ngrok.com/get-started/your-authtoken); or use --public-url",
				"no authtoken: webhooks cannot reach this machine, so results come by polling (slower)")
		}
		return nil
	}
	f := o.f
	f.addSecret(token)
	start := time.Now()
	rc, err := receiver.Open(ctx, receiver.Options{
		Mode:           receiver.ModeNgrok,
		Authtoken:      token,
		ConnectTimeout: o.TunnelTimeout,
		SkipReady:      true,
		Version:        f.Build.Version,
		Tunnel:         o.tunnelOpts,
	})
	if err != nil {
		hint := "a firewall or proxy may block outbound TLS to ngrok: allow it"
		msg := err.Error()
		var te *receiver.TunnelError
		if errors.As(err, &te) && te.Hint != "" {
			hint = te.Hint
			msg = strings.Replace(msg, ": "+te.Hint, "", 1)
		}
		r.fail(ExitAPI, name, hint+"; meanwhile --tunnel none (polling) or --public-url work without ngrok", "the tunnel did not open: %s", msg)
		return nil
	}
	r.ok(name, "authtoken %s works: tunnel %s opened in %s", config.Mask(token), rc.URL, time.Since(start).Round(time.Millisecond))
	return rc
}

// doctorWebhookBody is the test webhook doctor sends to itself.
const doctorWebhookBody = `{"status":"success","id":"mlab-doctor","track_id":"mlab-doctor","output":[]}`

// doctorWebhook sends a test webhook to a fresh token on rc (the ngrok
// receiver, once it routes) or, when rc is nil, on a loopback receiver, and
// waits for it to arrive. It closes the receiver.
func doctorWebhook(ctx context.Context, o *DoctorOptions, rc *receiver.Receiver, r *doctorReport) {
	const name = "webhook"
	if rc == nil {
		var err error
		if rc, err = receiver.Open(ctx, receiver.Options{Mode: receiver.ModeLocal}); err != nil {
			r.fail(ExitAPI, name, "", "could not open a local listener: %v", err)
			return
		}
	}
	defer rc.Close()
	reg, err := rc.Register("")
	if err != nil {
		r.fail(ExitAPI, name, "", "%v", err)
		return
	}
	defer reg.Unregister()
	ngrok := rc.Mode == receiver.ModeNgrok
	via := "a loopback listener (" + rc.URL + ")"
	client := &http.Client{Timeout: o.Timeout}
	if ngrok {
		via = "the ngrok tunnel (" + rc.URL + ")"
		if o.webhookClient != nil {
			client = o.webhookClient
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	start := time.Now()
	// A fresh ngrok endpoint 404s at the edge for a moment.
	if ngrok {
		if err := rc.WaitReady(ctx, client, o.TunnelTimeout); err != nil {
			r.fail(ExitAPI, name, "try again; if it persists, use --tunnel none (polling) or --public-url", "the tunnel opened but does not route to this machine: %v", err)
			return
		}
	}
	if !doctorSend(ctx, client, reg, via, r) {
		return
	}
	select {
	case d := <-reg.Deliveries:
		if string(d.Body) != doctorWebhookBody {
			r.fail(ExitAPI, name, "", "the test webhook arrived through %s altered", via)
			return
		}
		r.ok(name, "a test webhook arrived through %s in %s", via, time.Since(start).Round(time.Millisecond))
	case <-ctx.Done():
		r.fail(ExitAPI, name, "", "the test webhook was accepted but never reached the listener (within %s)", o.Timeout)
	}
}

// doctorSend POSTs the test webhook to reg's URL and reports a failure; it
// says whether the receiver accepted it.
func doctorSend(ctx context.Context, client *http.Client, reg *receiver.Registration, via string, r *doctorReport) bool {
	const name = "webhook"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, reg.URL, strings.NewReader(doctorWebhookBody))
	if err != nil {
		r.fail(ExitAPI, name, "", "%v", err)
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		r.fail(ExitAPI, name, "a firewall or proxy may be in the way; use --tunnel none to poll instead",
			"a test webhook sent to %s did not get through: %v", via, redactToken(err.Error(), reg.Token))
		return false
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		r.fail(ExitAPI, name, "something else answers on that address: check --public-url or your proxy",
			"a test webhook sent to %s was answered %s", via, resp.Status)
		return false
	}
	return true
}

// redactToken hides the per-job token in URLs that error texts quote.
func redactToken(s, token string) string { return strings.ReplaceAll(s, token, "<token>") }
