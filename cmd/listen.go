package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/listener"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/tunnel"
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

	// Test hooks.
	onReady    func(url string)          // called once the receiver is up
	recordWrap func(io.Writer) io.Writer // wraps the record file's writer
	drainBound time.Duration             // how long pending forwards may take at exit
}

// defaultDrainBound is how long pending forwards may still run once
// listening stops.
const defaultDrainBound = 3 * time.Second

// listenBuffer is the listener's queue between the HTTP handlers and the
// pump that moves deliveries into the (unbounded) processing queue.
const listenBuffer = 1024

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
--public-url URL is your own reverse proxy or tunnel forwarding to --listen;
the token is appended to it. (--tunnel none opens nothing: not for listen.)

Each delivery is answered 200 at once; showing, recording and forwarding
happen afterwards, from a queue, so they never delay the answer. On a
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
reported on stderr and listening goes on.

--forward-to URL relays every delivery (the same body bytes, its headers plus
X-Forwarded-For and X-Forwarded-Proto) to your app and shows the app's status
and latency; an app that is down or slow is reported and listening goes on.

--record FILE appends every delivery to FILE as JSON lines in the --json
shape, one complete line per write, so a killed mlab leaves every line
readable. mlab replay sends them again.

mlab listen runs until Ctrl-C (or --count deliveries), then closes the
listener and the tunnel, lets pending forwards finish for a few seconds, and
exits 0.

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
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runListen(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Tunnel, "tunnel", "", "receiver: auto, ngrok or local (env MLAB_TUNNEL; default auto)")
	fl.StringVar(&opts.PublicURL, "public-url", "", "your own public `URL` that forwards to --listen (reverse proxy, tunnel)")
	fl.StringVar(&opts.Listen, "listen", "", "local `ADDR` to listen on (default 127.0.0.1:<random port>)")
	fl.DurationVar(&opts.TunnelWait, "tunnel-timeout", 15*time.Second, "how long the ngrok tunnel may take to come up")
	fl.StringVar(&opts.Token, "token", "", "fixed path `TOKEN` ending the webhook URL (default: a fresh random one)")
	fl.BoolVar(&opts.PrintURL, "print-url", false, "also print the webhook URL alone on stdout, then keep listening")
	fl.BoolVar(&opts.JSON, "json", false, "one JSON object per delivery on stdout (the default when stdout is not a terminal)")
	fl.BoolVarP(&opts.Verbose, "verbose", "v", false, "on a terminal, show each delivery's headers and pretty-printed body")
	fl.StringVar(&opts.ForwardTo, "forward-to", "", "relay every delivery to your app at `URL`")
	fl.DurationVar(&opts.ForwardTimeout, "forward-timeout", 30*time.Second, "how long the app may take to answer a forwarded delivery")
	fl.StringVar(&opts.Record, "record", "", "append every delivery to `FILE` as JSON lines (for mlab replay)")
	fl.IntVar(&opts.Count, "count", 0, "exit after `N` deliveries (0: run until Ctrl-C)")
	return cmd
}

func (o *ListenOptions) validate() error {
	if o.Tunnel != "" {
		m, err := tunnel.ParseMode(o.Tunnel)
		if err != nil {
			return flagErrorf("--tunnel: %v", err)
		}
		switch m {
		case tunnel.ModeNone:
			return flagErrorf("--tunnel none opens no receiver, and mlab listen needs one: use auto, ngrok or local")
		case tunnel.ModeURL:
			if o.PublicURL == "" {
				return flagErrorf("--tunnel url needs --public-url")
			}
		case tunnel.ModeNgrok, tunnel.ModeLocal:
			if o.PublicURL != "" {
				return flagErrorf("--public-url goes with --tunnel auto (or url), not %s", m)
			}
		}
		if m == tunnel.ModeNgrok && o.Listen != "" {
			return flagErrorf("--listen has no effect with --tunnel ngrok (the tunnel needs no local port): drop it, or use --tunnel local")
		}
	}
	if o.PublicURL != "" {
		if _, err := tunnel.ValidatePublicURL(o.PublicURL); err != nil {
			return flagErrorf("--public-url: %v", err)
		}
	}
	if o.Token != "" && !tokenRE.MatchString(o.Token) {
		return flagErrorf("--token %q: use 1 to 128 letters, digits or . _ ~ - (it is a URL path segment)", o.Token)
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

// checkHTTPURL accepts absolute http(s) URLs.
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

// listenEvent is what the listener reports: a delivery or a rejection.
type listenEvent struct {
	d   listener.Delivery
	rej *listener.Rejection
}

// eventQueue is a FIFO the HTTP side pushes to without ever waiting,
// whatever the consumer (a slow terminal, a slow disk) is doing. It holds up
// to maxQueuedEvents events and maxQueuedBytes of bodies; past that,
// deliveries are dropped (still answered) and counted.
type eventQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	items   []listenEvent
	bytes   int
	dropped int
	closed  bool
}

const (
	maxQueuedEvents = 100_000
	maxQueuedBytes  = 512 << 20
)

func newEventQueue() *eventQueue {
	q := &eventQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *eventQueue) push(ev listenEvent) {
	q.mu.Lock()
	switch {
	case q.closed:
	case len(q.items) >= maxQueuedEvents || q.bytes+len(ev.d.Body) > maxQueuedBytes:
		q.dropped++
	default:
		q.items = append(q.items, ev)
		q.bytes += len(ev.d.Body)
	}
	q.mu.Unlock()
	q.cond.Signal()
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// pop blocks until an event is queued; false once closed and empty.
func (q *eventQueue) pop() (listenEvent, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.items) == 0 {
		return listenEvent{}, false
	}
	ev := q.items[0]
	q.items[0] = listenEvent{}
	q.items = q.items[1:]
	q.bytes -= len(ev.d.Body)
	return ev, true
}

// listenSession renders and relays the deliveries of one `mlab listen`.
type listenSession struct {
	o    *ListenOptions
	ios  *output.IOStreams
	json bool
	url  string
	rec  *recorder
	fw   *forwarder

	outMu sync.Mutex // stdout: the processor and the forward workers write it

	dd               deduper
	n, dups, rejects int
	recordFailed     bool
	countReached     chan struct{}
	countOnce        sync.Once
}

func runListen(ctx context.Context, o *ListenOptions) error {
	f, ios := o.f, o.f.IO
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	token := o.Token
	if token == "" {
		if token, err = listener.NewToken(); err != nil {
			return err
		}
	}
	s := &listenSession{o: o, ios: ios, json: o.JSON || !ios.IsStdoutTTY(), countReached: make(chan struct{})}
	if o.Record != "" {
		rec, err := openRecorder(o.Record)
		if err != nil {
			return &ConfigError{Msg: fmt.Sprintf("--record: %v", err), Hint: "give a file in a writable directory"}
		}
		defer rec.close()
		if o.recordWrap != nil {
			rec.w = o.recordWrap(rec.f)
		}
		s.rec = rec
	}

	ep, err := o.openEndpoint(ctx, cfg.NgrokAuthtoken, cfg.Tunnel)
	if err != nil || ep == nil {
		return err // ep == nil: interrupted while the tunnel came up
	}
	defer ep.Close()
	s.url = ep.URL + "/" + token

	q := newEventQueue()
	debug := f.DebugWriter()
	srv := listener.New(listener.Options{
		Buffer: listenBuffer,
		OnReject: func(r listener.Rejection) {
			q.push(listenEvent{rej: &r})
		},
	})
	deliveries, unregister, err := srv.Register(token)
	if err != nil {
		return err
	}
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		for d := range deliveries {
			q.push(listenEvent{d: d})
		}
		q.close()
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ep.Listener) }()

	if ep.Mode == tunnel.ModeNgrok {
		// A fresh ngrok endpoint 404s at the edge for a moment.
		if err := tunnel.WaitReady(ctx, http.DefaultClient, s.url, o.TunnelWait); err != nil && ctx.Err() == nil {
			ios.Warnf("the ngrok tunnel is not routable yet (%v); deliveries may fail for a moment", err)
		}
	}
	if o.ForwardTo != "" {
		proto := "http"
		if strings.HasPrefix(ep.URL, "https:") {
			proto = "https"
		}
		s.fw = newForwarder(o.ForwardTo, proto, o.ForwardTimeout, s.reportForward)
	}

	st := ios.Styles()
	ios.Infof("%s Webhook URL: %s %s", st.Success.Render("Ready!"), st.URL.Render(s.url), st.Muted.Render("(^C to quit)"))
	if s.fw != nil {
		ios.Infof("Forwarding deliveries to %s", st.URL.Render(o.ForwardTo))
	}
	if s.rec != nil {
		ios.Infof("Recording deliveries to %s", o.Record)
	}
	if o.Count > 0 {
		ios.Infof("Stopping after %s", countOf(o.Count, "delivery", "deliveries"))
	}
	if o.PrintURL {
		s.writeOut(s.url + "\n")
	}
	if debug != nil {
		fmt.Fprintf(debug, "webhook listener: %s mode, token %d chars", ep.Mode, len(token))
	}
	if o.onReady != nil {
		o.onReady(s.url)
	}

	procDone := make(chan struct{})
	go func() {
		defer close(procDone)
		s.process(q)
	}()

	var runErr error
	served := false
	select {
	case <-ctx.Done():
	case <-s.countReached:
	case err := <-serveErr:
		served = true
		if err == nil {
			err = errors.New("closed")
		}
		runErr = fmt.Errorf("the webhook receiver stopped: %w", err)
	}

	// Teardown: stop accepting (in-flight requests finish and are queued),
	// close the token's channel, show and record everything queued, let
	// pending forwards finish within a bound, then close the tunnel.
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	srv.Shutdown(sctx)
	cancel()
	unregister()
	<-pumpDone
	<-procDone
	if s.fw != nil {
		bound := o.drainBound
		if bound <= 0 {
			bound = defaultDrainBound
		}
		if n := s.fw.close(bound); n > 0 {
			ios.Warnf("%s not forwarded: the app did not answer within %s of stopping", countOf(n, "delivery", "deliveries"), bound)
		}
	}
	ep.Close()
	if !served {
		<-serveErr
	}
	_, _, dropped := srv.Stats()
	q.mu.Lock()
	dropped += uint64(q.dropped)
	q.mu.Unlock()
	if dropped > 0 {
		ios.Warnf("%d deliveries were answered but could not be shown: mlab could not keep up", dropped)
	}
	ios.Infof("%s %s (%d duplicate, %d rejected)", st.Muted.Render("Stopped after"), countOf(s.n, "delivery", "deliveries"), s.dups, s.rejects)
	if runErr != nil {
		return &ExitError{Err: runErr, Code: ExitAPI}
	}
	return nil
}

// countOf renders "1 delivery", "3 deliveries".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// latencyText renders a round trip for people: 0.4ms, 12ms, 1.2s.
func latencyText(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// openEndpoint resolves the receiver for listen. It returns (nil, nil) when
// ctx ended while a tunnel was coming up.
func (o *ListenOptions) openEndpoint(ctx context.Context, authtoken, cfgTunnel string) (*tunnel.Endpoint, error) {
	f, ios := o.f, o.f.IO
	mode := tunnel.ModeAuto
	if o.Tunnel != "" {
		mode, _ = tunnel.ParseMode(o.Tunnel) // validated
	} else {
		m, err := tunnel.ParseMode(cfgTunnel)
		if err != nil {
			return nil, &ConfigError{Msg: "MLAB_TUNNEL: " + err.Error(), Hint: "use auto, ngrok, local or none"}
		}
		// MLAB_TUNNEL=none means poll-only for job commands; listen always
		// needs a receiver, so it falls back to auto. An explicit --listen
		// wins over MLAB_TUNNEL=ngrok (ngrok has no local port).
		if m != tunnel.ModeNone && !(m == tunnel.ModeNgrok && o.Listen != "") {
			mode = m
		}
	}
	if o.PublicURL != "" {
		mode = tunnel.ModeURL
	}
	logger := slog.New(slog.DiscardHandler)
	if w := f.DebugWriter(); w != nil {
		logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	topts := tunnel.Options{
		Mode:           mode,
		ListenAddr:     o.Listen,
		PublicURL:      o.PublicURL,
		Authtoken:      authtoken,
		ConnectTimeout: o.TunnelWait,
		Logger:         logger,
		Version:        f.Build.Version,
	}
	openLocal := func() (*tunnel.Endpoint, error) {
		ep, err := tunnel.Open(ctx, topts)
		if err != nil {
			return nil, &ConfigError{Msg: err.Error()}
		}
		return ep, nil
	}
	switch mode {
	case tunnel.ModeLocal, tunnel.ModeURL:
		return openLocal()
	case tunnel.ModeAuto:
		if strings.TrimSpace(authtoken) == "" || o.Listen != "" {
			topts.Mode = tunnel.ModeLocal
			ep, err := openLocal()
			if err == nil && o.Listen == "" {
				ios.Infof("no ngrok authtoken (NGROK_AUTHTOKEN): listening on loopback, so the URL is only reachable from this machine; set NGROK_AUTHTOKEN or use --public-url for a public one")
			}
			return ep, err
		}
		topts.Mode = tunnel.ModeNgrok
		ep, err := tunnel.Open(ctx, topts)
		if err == nil {
			return ep, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		ios.Warnf("%s", f.redact(fmt.Sprintf("ngrok tunnel unavailable (%v); listening on loopback instead, reachable only from this machine", err)))
		topts.Mode = tunnel.ModeLocal
		return openLocal()
	}
	// ModeNgrok
	ep, err := tunnel.Open(ctx, topts)
	if err != nil {
		if errors.Is(err, tunnel.ErrNoAuthtoken) {
			return nil, &ConfigError{Msg: "--tunnel ngrok needs an ngrok authtoken", Hint: "set NGROK_AUTHTOKEN (https://dashboard.ngrok.com/get-started/your-authtoken), or use --tunnel local"}
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("open the webhook receiver: %w", err)
	}
	return ep, nil
}

// process handles the queued events in arrival order until the queue is
// closed and empty.
func (s *listenSession) process(q *eventQueue) {
	for {
		ev, ok := q.pop()
		if !ok {
			return
		}
		if ev.rej != nil {
			s.rejects++
			s.reportReject(*ev.rej)
			continue
		}
		if s.o.Count > 0 && s.n >= s.o.Count {
			continue // past --count: answered, not shown
		}
		s.n++
		s.handle(ev.d)
		if s.o.Count > 0 && s.n == s.o.Count {
			s.countOnce.Do(func() { close(s.countReached) })
		}
	}
}

func (s *listenSession) handle(d listener.Delivery) {
	p, err := processDelivery(d, &s.dd)
	if err != nil {
		s.ios.Warnf("delivery at %s: %v", d.ReceivedAt.Format(time.TimeOnly), err)
		return
	}
	if p.dup {
		s.dups++
	}
	if s.rec != nil {
		if err := s.rec.write(p.line); err != nil && !s.recordFailed {
			s.recordFailed = true
			s.ios.Warnf("%v; not recording any more, listening goes on", err)
			s.rec = nil
		}
	}
	if s.json {
		s.writeOut(string(p.line))
	} else {
		s.writeOut(s.humanLine(p))
	}
	if s.fw != nil && !s.fw.enqueue(d, p.sum) {
		s.ios.Warnf("forward queue full: %s not forwarded", describeDelivery(p.sum))
	}
}

func (s *listenSession) writeOut(text string) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	io.WriteString(s.ios.Out, text)
}

// describe names a delivery in one short phrase: "generation 1347 (track_id x)".
func describeDelivery(sum deliverySummary) string {
	var b strings.Builder
	b.WriteString(sum.Kind)
	if sum.ID != "" {
		b.WriteString(" " + sum.ID)
	}
	if sum.TrackID != "" {
		b.WriteString(" (track_id " + sum.TrackID + ")")
	}
	return b.String()
}

// humanLine renders one delivery for a terminal:
//
//	15:04:05  --> success  generation  id 134701497  track_id mlab-1f..  412 B  duplicate
func (s *listenSession) humanLine(p *processedDelivery) string {
	st := s.ios.Styles()
	var b strings.Builder
	b.WriteString(st.Muted.Render(p.d.ReceivedAt.Format(time.TimeOnly)))
	b.WriteString("  " + st.Muted.Render("-->") + " ")
	b.WriteString(deliveryStatusStyle(st, p.sum.Status).Render(fmt.Sprintf("%-10s", firstNonEmpty(p.sum.Status, "-"))))
	b.WriteString(" " + st.Bold.Render(fmt.Sprintf("%-10s", p.sum.Kind)))
	if p.sum.ID != "" {
		b.WriteString("  id " + st.ID.Render(p.sum.ID))
	}
	if p.sum.TrackID != "" {
		b.WriteString("  track_id " + st.ID.Render(p.sum.TrackID))
	}
	b.WriteString("  " + st.Muted.Render(bodySize(len(p.d.Body))))
	if p.dup {
		b.WriteString("  " + st.Warn.Render("duplicate"))
	}
	b.WriteString("\n")
	if s.o.Verbose {
		b.WriteString(st.Muted.Render(fmt.Sprintf("    %s %s from %s", p.d.Method, p.d.Path, p.d.RemoteAddr)) + "\n")
		h := flattenHeaders(p.d.Header)
		for _, k := range sortedHeaderNames(h) {
			b.WriteString("    " + st.Muted.Render(k+":") + " " + h[k] + "\n")
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, p.d.Body, "    ", "  ") == nil {
			b.WriteString("    " + pretty.String() + "\n")
		}
	}
	return b.String()
}

func deliveryStatusStyle(st *output.Styles, status string) interface{ Render(...string) string } {
	switch strings.ToLower(status) {
	case "success", "completed", "trained", "succeeded", "deployed":
		return st.Success
	case "failed", "error", "cancelled", "canceled":
		return st.Error
	case "":
		return st.Muted
	}
	return st.Warn
}

func (s *listenSession) reportReject(r listener.Rejection) {
	s.ios.Warnf("%s %s from %s answered %d: %s", r.Method, r.Path, r.RemoteAddr, r.Status, r.Reason)
}

// reportForward shows the app's answer to a forwarded delivery (called from
// the forward workers).
func (s *listenSession) reportForward(r forwardResult) {
	if r.err != nil {
		s.ios.Warnf("<-- forwarding %s to %s failed: %v; listening goes on", describeDelivery(r.sum), r.url, r.err)
		return
	}
	st := s.ios.Styles()
	code := fmt.Sprintf("[%d]", r.status)
	if r.status >= 200 && r.status < 300 {
		code = st.Success.Render(code)
	} else {
		code = st.Error.Render(code)
	}
	line := fmt.Sprintf("%s  %s %s POST %s  %s  %s", st.Muted.Render(time.Now().Format(time.TimeOnly)), st.Muted.Render("<--"), code, r.url, describeDelivery(r.sum), st.Muted.Render(latencyText(r.elapsed)))
	if s.json {
		s.ios.Infof("%s", line) // stdout is for the JSON lines
		return
	}
	s.writeOut(line + "\n")
}
