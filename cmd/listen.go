package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"time"

	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/relay"
	"github.com/mlabcli/mlab/internal/webhook"
	"github.com/spf13/cobra"
)

// webhookCommands returns the webhook tools: listen, replay, trigger.
func webhookCommands(f *Factory) []*cobra.Command {
	return []*cobra.Command{
		newCmdListen(f, nil),
		newCmdReplay(f, nil),
		newCmdTrigger(f, nil),
	}
}

// ListenOptions are the flags of `mlab listen`.
type ListenOptions struct {
	f *Factory

	Out            OutputFlags   // --jq, --template (each delivery's JSON line)
	Tunnel         string        // --tunnel auto|ngrok|local (none is refused)
	PublicURL      string        // --public-url
	Listen         string        // --listen ADDR
	TunnelWait     time.Duration // --tunnel-timeout
	Token          string        // --token: fixed path token; default random
	PrintURL       bool          // --print-url: the URL alone on stdout
	JSON           bool          // --json (also the default off a TTY)
	Verbose        bool          // --verbose: headers and pretty body
	ForwardTo      string        // --forward-to URL
	ForwardTimeout time.Duration // --forward-timeout
	Record         string        // --record FILE
	Count          int           // --count N: stop after N deliveries
	Relay          string        // --relay URL (env MLAB_RELAY): relay other tokens' deliveries through Redis
	Stream         string        // --stream NAME: also append every relayed delivery to this Redis stream

	relay *listenRelay // open while runListen runs with a relay

	// Test hooks.
	onReady    func(url string)          // called once the receiver is up
	recordWrap func(io.Writer) io.Writer // wraps the record file's writer
	drainBound time.Duration             // how long pending forwards may take at exit (webhook.Options.DrainBound)
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)

func newCmdListen(f *Factory, runF func(context.Context, *ListenOptions) error) *cobra.Command {
	opts := &ListenOptions{f: f}
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Receive webhooks: show, forward, record every delivery",
		Long: `Open a webhook receiver and show every delivery that reaches it: to see what
ModelsLab sends, to relay it to an app you are writing, and to record it for
mlab replay.

The webhook URL is printed on stderr ("Ready! Webhook URL: ..."); give it as
the "webhook" of any API call (mlab img --webhook URL). Its last path segment
is a secret token (random, or fixed with --token); every other path is
answered 404, since ModelsLab signs nothing.

Receiver (--tunnel, as for job commands):
  auto    an embedded ngrok tunnel when an ngrok authtoken is set (falling back
          to loopback with a warning if it does not come up); without one, a
          loopback listener reachable only from this machine; with
          --public-url, your own URL. An explicit --listen means loopback.
  ngrok   the ngrok tunnel, or exit 4 with the reason
  local   a loopback listener on --listen (default 127.0.0.1:<random port>)
  url     your own --public-url (a reverse proxy or tunnel forwarding to
          --listen); the token is appended to it. --public-url alone means url. (--tunnel none opens nothing: not for listen.)

Each delivery is answered 200 at once; showing, recording and forwarding
happen afterwards, from a queue, so they never delay the answer. When that
queue is full (a terminal, disk or --forward-to app that cannot keep up),
deliveries are answered 503 with Retry-After instead, so the sender tries
again: a delivery answered 200 is never dropped. On a
terminal each delivery is one line: time, status, kind, id, track_id, size
and a duplicate mark (--verbose adds the headers and the pretty-printed
body). Off a terminal, or with --json, each is one JSON object per line on
stdout:
  {"received_at","method","path","headers","body","duplicate","kind"}
where body is the payload itself as a JSON value (and raw_body its exact
bytes when they differ from body's compact form). kind is generation,
training, workflow or unknown, from the payload's shape; a delivery is a
duplicate when its kind, id, track_id and status were seen before.
Invalid requests (wrong path 404, not JSON 400, over 10 MiB 413) are
reported on stderr and listening goes on: ten a second one by one (the
path percent-decoded, cut to 200 bytes, control characters escaped), the
rest summed up as "N more rejected (404: N, ...)", and 503s only summed up.

--forward-to URL relays every delivery (the same body bytes, its headers plus
X-Forwarded-For and X-Forwarded-Proto) to your app and shows the app's status
and latency; an app that is down or slow is reported and listening goes on.

--record FILE appends every delivery to FILE as JSON lines in the --json
shape, one complete line per write, so a killed mlab leaves every line
readable. mlab replay sends them again.

mlab listen runs until Ctrl-C (or --count deliveries), then closes the
listener and the tunnel, lets pending forwards finish for a few seconds, and
exits 0. A terminal (or pipe) that reads nothing does not keep it from
exiting: what it did not take is given up on within a second or two.

Exit status:
  0    stopped by Ctrl-C or after --count deliveries
  2    usage or configuration error (bad flags, --tunnel ngrok without an
       authtoken, the --listen address in use, --record not writable)
  4    the tunnel did not come up, or the receiver stopped`,
		Example: `  $ mlab listen
  Ready! Webhook URL: https://abcd.ngrok-free.dev/3f2a9c... (^C to quit)

  # elsewhere: send a job's webhook there
  $ mlab img "a lighthouse" --webhook https://abcd.ngrok-free.dev/3f2a9c...

  # relay to the app you are writing, keep a record, show everything
  $ mlab listen --forward-to http://localhost:3000/hooks/modelslab --record hooks.jsonl --verbose

  # scripts: fixed port and token, JSON lines, stop after one delivery
  $ mlab listen --tunnel local --listen 127.0.0.1:8787 --token dev --count 1 --json | jq .body.status

  # the URL alone on stdout, for another program to read
  $ mlab listen --print-url --json > deliveries.jsonl

  # behind your own reverse proxy (https://hooks.example.com/* -> 127.0.0.1:8787)
  $ mlab listen --public-url https://hooks.example.com --listen 127.0.0.1:8787 --token s3cret`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return flagErrorf("mlab listen takes no arguments, got %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			return pickRun(runF, runListen)(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Tunnel, "tunnel", "", "receiver: auto, ngrok, local or url (your --public-url) (env MLAB_TUNNEL; default auto)")
	fl.StringVar(&opts.PublicURL, "public-url", "", "your own public `URL` that forwards to --listen (reverse proxy, tunnel)")
	fl.StringVar(&opts.Listen, "listen", "", "local `ADDR` to listen on (default 127.0.0.1:<random port>)")
	durationFlag(fl, &opts.TunnelWait, "tunnel-timeout", 15*time.Second, "how long the ngrok tunnel may take to come up")
	fl.StringVar(&opts.Token, "token", "", "fixed path `TOKEN` ending the webhook URL (default: a fresh random one)")
	fl.BoolVar(&opts.PrintURL, "print-url", false, "also print the webhook URL alone on stdout, then keep listening")
	fl.BoolVar(&opts.JSON, "json", false, "one JSON object per delivery on stdout (the default when stdout is not a terminal)")
	addFilterFlags(fl, &opts.Out)
	fl.BoolVarP(&opts.Verbose, "verbose", "v", false, "on a terminal, show each delivery's headers and pretty-printed body")
	fl.StringVar(&opts.ForwardTo, "forward-to", "", "relay every delivery to your app at `URL`")
	durationFlag(fl, &opts.ForwardTimeout, "forward-timeout", 30*time.Second, "how long the app may take to answer a forwarded delivery")
	fl.StringVar(&opts.Record, "record", "", "append every delivery to `FILE` as JSON lines (for mlab replay)")
	fl.IntVar(&opts.Count, "count", 0, "exit after `N` deliveries (0: run until Ctrl-C)")
	fl.StringVar(&opts.Relay, "relay", "", "also be the webhook relay for job commands on any machine, through Redis at `URL` (redis://[user:pass@]host:6379/0; env MLAB_RELAY)")
	fl.StringVar(&opts.Stream, "stream", "", "with --relay, also append every relayed delivery to the Redis stream `NAME` (for your own consumers)")
	return cmd
}

// pickRun is what a command's RunE runs: the test's runF when one is
// given, else the command's own run.
func pickRun[O any](runF, run func(context.Context, O) error) func(context.Context, O) error {
	if runF != nil {
		return runF
	}
	return run
}

func (o *ListenOptions) validate() error {
	if o.Tunnel != "" {
		if err := o.validateTunnel(); err != nil {
			return err
		}
	}
	if o.PublicURL != "" {
		if _, err := receiver.ValidatePublicURL(o.PublicURL); err != nil {
			return flagErrorf("--public-url: %v", err)
		}
	}
	if o.Token != "" && !tokenRE.MatchString(o.Token) {
		return flagErrorf("--token %q: use 1 to 128 letters, digits or . _ ~ - (it is a URL path segment)", o.Token)
	}
	if o.Stream != "" && o.Relay == "" && o.f.relayURL("") == "" {
		return flagErrorf("--stream goes with --relay URL (or MLAB_RELAY)")
	}
	if o.Count < 0 {
		return flagErrorf("--count must be 0 (no limit) or more")
	}
	if o.ForwardTo != "" {
		if err := checkTargetURL(o.ForwardTo); err != nil {
			return flagErrorf("--forward-to %q: %v", o.ForwardTo, err)
		}
	}
	if o.ForwardTimeout <= 0 {
		return flagErrorf("--forward-timeout must be positive")
	}
	if o.TunnelWait <= 0 {
		return flagErrorf("--tunnel-timeout must be positive")
	}
	return nil
}

// validateTunnel checks --tunnel against --public-url and --listen.
func (o *ListenOptions) validateTunnel() error {
	m, err := receiver.ParseMode(o.Tunnel)
	if err != nil {
		return flagErrorf("--tunnel: %v", err)
	}
	switch m {
	case receiver.ModeNone:
		return flagErrorf("--tunnel none opens no receiver, and mlab listen needs one: use auto, ngrok or local")
	case receiver.ModeURL:
		if o.PublicURL == "" {
			return flagErrorf("--tunnel url needs --public-url (your own public URL that forwards to --listen)")
		}
	case receiver.ModeNgrok, receiver.ModeLocal:
		if o.PublicURL != "" {
			return flagErrorf("--public-url goes with --tunnel auto (or url), not %s", m)
		}
	}
	if m == receiver.ModeNgrok && o.Listen != "" {
		return flagErrorf("--listen has no effect with --tunnel ngrok (the tunnel needs no local port): drop it, or use --tunnel local")
	}
	return nil
}

// checkTargetURL accepts absolute http(s) URLs (--forward-to, --to).
func checkTargetURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an absolute http(s) URL such as http://localhost:3000/hooks")
	}
	return nil
}

// runListen opens the record file and the receiver, then runs the listen
// engine (internal/webhook) and renders what it reports (listenView).
func runListen(ctx context.Context, o *ListenOptions) error {
	cfg, err := o.f.Config()
	if err != nil {
		return err
	}
	rec, err := o.openRecorder()
	if err != nil {
		return err
	}
	if rec != nil {
		defer rec.Close()
	}
	v := newListenView(o.f.IO, o.JSON, o.Verbose)
	v.filter = o.Out.jsonFilter()
	defer v.close() // last: a terminal that reads nothing is given up on
	eng := webhook.New(webhook.Options{
		Count: o.Count, Recorder: rec, DrainBound: o.drainBound, Observer: v,
		ForwardTo: o.ForwardTo, ForwardTimeout: o.ForwardTimeout,
	})
	if u := o.f.relayURL(o.Relay); u != "" {
		b, err := relay.OpenRedis(u, relay.RedisOptions{})
		if err != nil {
			return relayURLError(err)
		}
		o.relay = &listenRelay{b: b, Relay: receiver.NewRelay(b)}
		defer o.relay.stop(func(s string) { v.infof("%s", s) }) // after rc.Close: no delivery reaches a stopped relay
	}
	rc, err := o.openReceiver(ctx, v, cfg.NgrokAuthtoken, cfg.Tunnel, eng.Reject)
	if err != nil || rc == nil {
		return err // rc == nil: interrupted while the tunnel came up
	}
	defer rc.Close()
	if o.relay != nil {
		if err := o.relay.start(ctx, o.f, rc.URL, o.Stream, func(s string) { v.infof("%s", s) }, func(s string) { v.warnf("%s", s) }); err != nil {
			return err
		}
	}
	reg, err := rc.Register(o.Token) // "" registers a fresh random token
	if err != nil {
		return err
	}
	o.printReady(v, rc.Mode, reg)
	if err := eng.Run(ctx, rc, reg); err != nil {
		return &ExitError{Err: err, Code: ExitAPI}
	}
	return nil
}

// openRecorder opens --record FILE; nil without --record.
func (o *ListenOptions) openRecorder() (*webhook.Recorder, error) {
	if o.Record == "" {
		return nil, nil
	}
	rec, err := webhook.OpenRecorder(o.Record)
	if err != nil {
		return nil, &ConfigError{Msg: fmt.Sprintf("--record: %v", err), Hint: "give a file in a writable directory"}
	}
	if o.recordWrap != nil {
		rec.WrapWriter(o.recordWrap)
	}
	return rec, nil
}

// listenMode is listen's receiver mode: --tunnel, else MLAB_TUNNEL, with
// --public-url meaning url. MLAB_TUNNEL=none means poll-only for job
// commands; listen always needs a receiver, so it falls back to auto. An
// explicit --listen wins over MLAB_TUNNEL=ngrok (ngrok has no local port).
func (o *ListenOptions) listenMode(cfgTunnel string) (receiver.Mode, error) {
	mode := receiver.ModeAuto
	if o.Tunnel != "" {
		mode, _ = receiver.ParseMode(o.Tunnel) // validated
	} else {
		m, err := receiver.ParseMode(cfgTunnel)
		if err != nil {
			return "", &ConfigError{Msg: "MLAB_TUNNEL: " + err.Error(), Hint: "use auto, ngrok, local or none"}
		}
		if m != receiver.ModeNone && !(m == receiver.ModeNgrok && o.Listen != "") {
			mode = m
		}
	}
	if o.PublicURL != "" {
		mode = receiver.ModeURL
	}
	return mode, nil
}

// openReceiver opens listen's receiver (auto falls back to loopback, never
// to polling), its rejections going to onReject and its notices to v (so
// a blocked stderr cannot hold it up). It returns (nil, nil) when ctx
// ended while a tunnel was coming up.
func (o *ListenOptions) openReceiver(ctx context.Context, v *listenView, authtoken, cfgTunnel string, onReject func(webhook.Rejection)) (*receiver.Receiver, error) {
	mode, err := o.listenMode(cfgTunnel)
	if err != nil {
		return nil, err
	}
	ro := o.f.receiverOptions()
	ro.Notify = func(n receiver.Notice) {
		if n.Warn {
			v.warnf("%s", o.f.redact(n.Text))
		} else {
			v.infof("%s", o.f.redact(n.Text))
		}
	}
	ro.Mode, ro.ListenAddr, ro.PublicURL = mode, o.Listen, o.PublicURL
	ro.Authtoken, ro.ConnectTimeout, ro.Fallback = authtoken, o.TunnelWait, receiver.FallbackLoopback
	ro.Token, ro.Buffer, ro.OnReject = o.Token, webhook.Buffer, onReject
	if o.relay != nil {
		ro.Relay = o.relay.Accept
	}
	rc, err := receiver.Open(ctx, ro)
	var le *receiver.LocalError
	switch {
	case err == nil:
		return rc, nil
	case errors.As(err, &le):
		return nil, err // exit 2, with the hint to choose another --listen address
	case ctx.Err() != nil:
		return nil, nil
	}
	return nil, receiverError(ctx, err, "--tunnel local")
}

// printReady says where to send webhooks and what happens to them.
func (o *ListenOptions) printReady(v *listenView, mode receiver.Mode, reg *receiver.Registration) {
	st := o.f.IO.Styles()
	v.infof("%s Webhook URL: %s %s", st.Success.Render("Ready!"), st.URL.Render(reg.URL), st.Muted.Render("(^C to quit)"))
	if o.ForwardTo != "" {
		v.infof("Forwarding deliveries to %s", st.URL.Render(o.ForwardTo))
	}
	if o.relay != nil {
		stream := ""
		if o.Stream != "" {
			stream = " and to stream " + o.Stream
		}
		v.infof("Relaying job webhooks through %s%s", o.relay.b.URL(), stream)
	}
	if o.Record != "" {
		v.infof("Recording deliveries to %s", o.Record)
	}
	if o.Count > 0 {
		v.infof("Stopping after %s", deliveryCount(o.Count))
	}
	if o.PrintURL {
		v.writeOut(reg.URL + "\n")
	}
	if debug := o.f.DebugWriter(); debug != nil {
		fmt.Fprintf(debug, "webhook listener: %s mode, token %d chars", mode, len(reg.Token))
	}
	if o.onReady != nil {
		o.onReady(reg.URL)
	}
}
