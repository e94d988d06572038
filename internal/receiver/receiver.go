// Package receiver is mlab's one place to receive webhooks: it resolves the
// tunnel mode (auto → local for a loopback API, ngrok, url, local, none),
// opens the tunnel (internal/tunnel), serves the webhook handler on it
// (internal/listener), waits until a fresh ngrok URL routes, and shuts it all
// down again. Job commands, `mlab listen` and `mlab doctor` use it alike.
//
// A [Receiver] hands out per-job path tokens with [Receiver.RegisterJob]
// (its deliveries as job.Events for internal/job) or fixed ones with
// [Receiver.Register] (raw deliveries, for the listen engine). It never
// prints: what a person should know arrives through [Options.Notify].
package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mlabcli/mlab/internal/ids"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/listener"
	"github.com/mlabcli/mlab/internal/tunnel"
)

// Mode is how the receiver is exposed (see internal/tunnel).
type Mode = tunnel.Mode

// The modes, re-exported so that commands need not import internal/tunnel.
const (
	ModeAuto  = tunnel.ModeAuto
	ModeNgrok = tunnel.ModeNgrok
	ModeLocal = tunnel.ModeLocal
	ModeURL   = tunnel.ModeURL
	ModeNone  = tunnel.ModeNone
)

// Delivery is one accepted webhook POST; Rejection a refused request.
type (
	Delivery  = listener.Delivery
	Rejection = listener.Rejection
)

// TunnelOptions are the tunnel's own options, for the [Options.Tunnel] hook.
type TunnelOptions = tunnel.Options

// TunnelError is a tunnel that could not be opened (exit 4).
type TunnelError = tunnel.Error

// ErrNoAuthtoken: ngrok was asked for explicitly, and there is no authtoken.
var ErrNoAuthtoken = tunnel.ErrNoAuthtoken

// ParseMode parses a mode name ("" is auto).
func ParseMode(s string) (Mode, error) { return tunnel.ParseMode(s) }

// ValidatePublicURL checks a --public-url value.
func ValidatePublicURL(s string) (string, error) { return tunnel.ValidatePublicURL(s) }

// DefaultConnectTimeout bounds the ngrok connect step and its readiness probe.
const DefaultConnectTimeout = tunnel.DefaultConnectTimeout

// DefaultAutoBudget bounds, in auto mode for job commands ([FallbackPoll]),
// the whole ngrok attempt: connecting and the readiness probe of the fresh
// URL. A tunnel not up (connected and routing) within it is given up, with
// one warning: the jobs are submitted without a webhook and their results
// come by watching their outputs and polling. A lower
// [Options.ConnectTimeout] wins; a higher one does not lift it (an explicit
// [ModeNgrok] waits ConnectTimeout, and fails when the tunnel does not come
// up). mlab listen ([FallbackLoopback]) is not bounded by it.
const DefaultAutoBudget = 3 * time.Second

// reasonGrace is the part of the auto budget (at most a third of it) kept
// after the connect step's own bound, so that a connect that timed out
// can still say why (a malformed authtoken, say) before the budget ends.
const reasonGrace = 500 * time.Millisecond

// Fallback says what auto mode does when ngrok is not to be had (no
// authtoken, or a tunnel that fails to open or to route).
type Fallback int

const (
	// FallbackPoll opens no listener: the job is polled (job commands).
	FallbackPoll Fallback = iota
	// FallbackLoopback listens on loopback instead (mlab listen, which
	// always needs a receiver).
	FallbackLoopback
)

// Notice is something a person should be told about the receiver.
type Notice struct {
	Warn bool   // a degradation (a tunnel that did not come up), not just news
	Text string // one line; may quote error texts (redact before printing)
}

// Options configures [Open].
type Options struct {
	Mode       Mode   // "" means auto
	APIBase    string // the API's base URL: in auto mode a loopback API gets a loopback listener
	ListenAddr string // local listen address (default 127.0.0.1:0)
	PublicURL  string // the user's own public URL forwarding to ListenAddr
	Authtoken  string // ngrok authtoken
	// ConnectTimeout bounds the ngrok connect step, and again its
	// readiness probe. Default DefaultConnectTimeout. In auto mode with
	// FallbackPoll the whole attempt is bounded by the smaller of it and
	// DefaultAutoBudget instead.
	ConnectTimeout time.Duration
	// Fallback is auto mode's answer to "no ngrok".
	Fallback Fallback
	// SkipReady skips the readiness probe of a fresh ngrok URL (doctor
	// probes it itself, with [Receiver.WaitReady]).
	SkipReady bool
	// ReadyClient does the readiness probe; nil means http.DefaultClient.
	ReadyClient *http.Client

	// Token, when set, is registered before the listener serves, so a
	// sender that finds the port open never meets a 404 for it (mlab
	// listen --token); Register(Token) hands that registration out.
	Token  string
	Buffer int // per-token queue (listener.Options.Buffer)
	// Relay, when set, takes a POST to a token not registered here (mlab
	// listen --relay: relay.Accept); see listener.Options.Fallback.
	Relay    func(ctx context.Context, token string, body []byte, at time.Time) (status int, err error)
	OnReject func(listener.Rejection)      // every rejected request, synchronously
	Notify   func(Notice)                  // what a person should be told
	Debug    func(format string, a ...any) // --debug lines; nil: none
	Logger   *slog.Logger                  // the ngrok SDK's logs; nil discards them
	Version  string                        // mlab's version, for ngrok's client info
	Tunnel   func(*TunnelOptions)          // test hook: adjust the tunnel options (fake ingress)
}

// LocalError is a local listen address that could not be used (in use, not
// an address): a configuration problem.
type LocalError struct{ Err error }

func (e *LocalError) Error() string { return e.Err.Error() }
func (e *LocalError) Unwrap() error { return e.Err }

// Receiver is an open webhook receiver: a tunnel (or none) and a listener.
type Receiver struct {
	// Mode is the resolved mode: never auto; ModeNone when polling only.
	Mode Mode
	// URL is the public base URL without a trailing slash; "" with ModeNone.
	URL string

	opts     Options
	ep       *tunnel.Endpoint
	l        *listener.Server
	serveErr error         // why Serve returned; set before served is closed
	served   chan struct{} // closed when Serve has returned

	closeOnce sync.Once

	preMu sync.Mutex
	pre   *Registration // Options.Token's, until Register hands it out
}

// Open resolves the mode and opens the receiver. In auto mode a missing or
// failing ngrok tunnel is not an error (see [Fallback]); an explicit mode
// that cannot be opened is. It returns ctx's error when ctx ended while a
// tunnel came up.
func Open(ctx context.Context, o Options) (*Receiver, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	mode := o.Mode
	if mode == "" {
		mode = ModeAuto
	}
	if mode == ModeAuto && o.PublicURL == "" && IsLoopbackURL(o.APIBase) {
		mode = ModeLocal // the API can reach us here: no tunnel needed
	}
	if o.PublicURL != "" && (mode == ModeAuto || mode == ModeURL) {
		mode = ModeURL
	}
	if mode == ModeAuto && o.Fallback == FallbackPoll && strings.TrimSpace(o.Authtoken) != "" {
		return o.openAuto(ctx)
	}
	if mode == ModeAuto && o.Fallback == FallbackLoopback {
		// mlab listen always needs a receiver: auto means ngrok when it
		// can, else loopback (an explicit --listen means loopback).
		if strings.TrimSpace(o.Authtoken) == "" || o.ListenAddr != "" {
			ep, err := o.openMode(ctx, ModeLocal)
			if err != nil {
				return nil, err
			}
			if o.ListenAddr == "" {
				o.notify(false, "no ngrok authtoken (NGROK_AUTHTOKEN): listening on loopback, so the URL is only reachable from this machine; set NGROK_AUTHTOKEN or use --public-url for a public one")
			}
			return o.serve(ctx, ep)
		}
		ep, err := o.openMode(ctx, ModeNgrok)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			o.notify(true, fmt.Sprintf("ngrok tunnel unavailable (%v); listening on loopback instead, reachable only from this machine", err))
			if ep, err = o.openMode(ctx, ModeLocal); err != nil {
				return nil, err
			}
		}
		return o.serve(ctx, ep)
	}
	ep, err := o.openMode(ctx, mode)
	if err != nil {
		return nil, err
	}
	if ep.Notice != "" {
		o.notify(false, ep.Notice)
	}
	return o.serve(ctx, ep)
}

func (o *Options) openMode(ctx context.Context, mode Mode) (*tunnel.Endpoint, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	topts := tunnel.Options{
		Mode:           mode,
		ListenAddr:     o.ListenAddr,
		PublicURL:      o.PublicURL,
		Authtoken:      o.Authtoken,
		ConnectTimeout: o.ConnectTimeout,
		Logger:         logger,
		Version:        o.Version,
	}
	if o.Tunnel != nil {
		o.Tunnel(&topts)
	}
	ep, err := tunnel.Open(ctx, topts)
	if err == nil {
		return ep, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var te *tunnel.Error
	if errors.Is(err, tunnel.ErrNoAuthtoken) || errors.As(err, &te) {
		return nil, err
	}
	if mode == ModeLocal || mode == ModeURL {
		return nil, &LocalError{Err: err}
	}
	return nil, err
}

func (o *Options) notify(warn bool, text string) {
	if o.Notify != nil {
		o.Notify(Notice{Warn: warn, Text: text})
	}
}

func (o *Options) debugf(format string, a ...any) {
	if o.Debug != nil {
		o.Debug(format, a...)
	}
}

// autoResult is what the ngrok attempt of auto mode came to.
type autoResult struct {
	r   *Receiver
	err error
}

// notRoutableError is a fresh ngrok URL that did not route within the auto
// budget.
type notRoutableError struct{ err error }

func (e *notRoutableError) Error() string { return e.err.Error() }
func (e *notRoutableError) Unwrap() error { return e.err }

// openAuto is auto mode for a job command with an authtoken: ngrok if it is
// up (connected and routing) within the auto budget, else poll only, with
// one warning. The attempt runs on its own goroutine, so that Open returns
// at the budget whatever the SDK does; a tunnel that comes up after that is
// closed as soon as it does.
func (o *Options) openAuto(ctx context.Context) (*Receiver, error) {
	budget := min(DefaultAutoBudget, o.ConnectTimeout)
	deadline := time.Now().Add(budget)
	actx, cancel := context.WithCancel(ctx)
	res := make(chan autoResult, 1)
	go func() {
		r, err := o.tryNgrok(actx, budget, deadline)
		res <- autoResult{r, err}
	}()
	// abandon stops the attempt and closes whatever it still opens.
	abandon := func() {
		cancel()
		go func() {
			if a := <-res; a.r != nil {
				a.r.Close()
			}
		}()
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var failure error // nil: the attempt was still under way at the deadline
	select {
	case a := <-res:
		cancel()
		if ctx.Err() != nil {
			a.r.Close()
			return nil, ctx.Err()
		}
		if a.err == nil {
			return a.r, nil
		}
		failure = a.err
		o.debugf("ngrok (auto): %v", a.err)
	case <-timer.C:
		abandon()
		o.debugf("ngrok (auto): not up within %s; the attempt is abandoned (a tunnel that comes up later is closed)", budget)
	case <-ctx.Done():
		abandon()
		return nil, ctx.Err()
	}
	o.notify(true, autoNotice(budget, failure))
	return o.pollOnly(), nil
}

// tryNgrok opens the ngrok tunnel and serves on it once it routes, all by
// deadline (budget from now). The connect step stops a little earlier, so
// that its error can still say why.
func (o Options) tryNgrok(ctx context.Context, budget time.Duration, deadline time.Time) (*Receiver, error) {
	o.ConnectTimeout = budget - min(budget/3, reasonGrace)
	ep, err := o.openMode(ctx, ModeNgrok)
	if err != nil {
		return nil, err
	}
	r, err := o.start(ep)
	if err != nil || o.SkipReady {
		return r, err
	}
	// The probe ends a little before the deadline too, to say why.
	wait := time.Until(deadline) - min(budget/10, 100*time.Millisecond)
	if wait <= 0 {
		r.Close()
		return nil, &notRoutableError{errors.New("no time left to probe the fresh ngrok URL")}
	}
	if err := r.WaitReady(ctx, o.ReadyClient, wait); err != nil {
		r.Close()
		return nil, &notRoutableError{err}
	}
	return r, nil
}

// autoNotice is the one warning of a job command's auto mode without ngrok:
// what failed, and that the jobs go on without a webhook. Its texts come
// from internal/tunnel, which never puts the authtoken in them.
func autoNotice(budget time.Duration, err error) string {
	const tail = ": submitting without a webhook; results come by watching the outputs and polling"
	var (
		te *tunnel.Error
		nr *notRoutableError
	)
	switch {
	case err == nil:
		return fmt.Sprintf("ngrok was not up within %s%s", budget, tail)
	case errors.As(err, &nr):
		return fmt.Sprintf("ngrok was not up within %s (the tunnel opened but its URL did not route yet)%s", budget, tail)
	case errors.As(err, &te) && errors.Is(err, tunnel.ErrConnectTimeout):
		if te.Code != "" { // e.g. a malformed authtoken, which the SDK retries until the bound
			return fmt.Sprintf("ngrok was not up within %s (%s)%s", budget, te.Reason(), tail)
		}
		return fmt.Sprintf("ngrok was not up within %s%s", budget, tail)
	case errors.As(err, &te):
		return fmt.Sprintf("ngrok tunnel unavailable (%s)%s", te.Reason(), tail)
	}
	return fmt.Sprintf("ngrok tunnel unavailable (%v)%s", err, tail)
}

// pollOnly is a receiver without a listener: results are polled.
func (o Options) pollOnly() *Receiver {
	r := &Receiver{Mode: ModeNone, opts: o, served: make(chan struct{})}
	close(r.served)
	return r
}

// serve starts the listener on ep and, for a fresh ngrok URL, waits until
// it routes. A job command's ngrok URL that does not route falls back to
// polling; listen's goes on with a warning.
func (o Options) serve(ctx context.Context, ep *tunnel.Endpoint) (*Receiver, error) {
	r, err := o.start(ep)
	if err != nil || ep.Listener == nil {
		return r, err
	}
	if ep.Mode != ModeNgrok || o.SkipReady {
		return r, nil
	}
	err = r.WaitReady(ctx, o.ReadyClient, o.ConnectTimeout)
	if ctx.Err() != nil {
		r.Close()
		return nil, ctx.Err()
	}
	if err == nil {
		return r, nil
	}
	if o.Fallback == FallbackLoopback {
		o.notify(true, fmt.Sprintf("the ngrok tunnel is not routable yet (%v); deliveries may fail for a moment", err))
		return r, nil
	}
	o.notify(true, fmt.Sprintf("the ngrok tunnel is not routable yet (%v); polling for results", err))
	r.Close()
	return o.pollOnly(), nil
}

// start serves the webhook handler on ep (nothing to serve without a
// listener). On failure it closes ep.
func (o Options) start(ep *tunnel.Endpoint) (*Receiver, error) {
	r := &Receiver{Mode: ep.Mode, opts: o, ep: ep, served: make(chan struct{})}
	if ep.Listener == nil {
		close(r.served)
		return r, nil
	}
	r.URL = ep.URL
	r.l = listener.New(listener.Options{Buffer: o.Buffer, Fallback: o.Relay, OnReject: func(rej listener.Rejection) {
		// Quoted and clipped: the path is anyone's, up to 64 KiB of it.
		o.debugf("webhook listener: %q %q (%d bytes) from %s answered %d (%s)", clip(rej.Method), clip(rej.Path), len(rej.Path), rej.RemoteAddr, rej.Status, rej.Reason)
		if o.OnReject != nil {
			o.OnReject(rej)
		}
	}})
	if o.Token != "" {
		pre, err := r.register(o.Token)
		if err != nil {
			ep.Close()
			return nil, err
		}
		r.pre = pre
	}
	go func() {
		err := r.l.Serve(ep.Listener)
		if err == nil {
			err = errors.New("closed")
		}
		r.serveErr = err
		close(r.served)
	}()
	return r, nil
}

// Listening reports whether webhooks can arrive (false: poll only).
func (r *Receiver) Listening() bool { return r != nil && r.l != nil }

// WaitReady probes a token of its own through the public URL until the
// edge routes it to this listener, within budget.
func (r *Receiver) WaitReady(ctx context.Context, client *http.Client, budget time.Duration) error {
	probe, err := r.Register("")
	if err != nil {
		return err
	}
	defer probe.Unregister()
	return tunnel.WaitReady(ctx, client, probe.URL, budget)
}

// Registration is one path token on the receiver.
type Registration struct {
	Token      string
	URL        string                   // the full webhook URL; "" when polling only
	Deliveries <-chan listener.Delivery // nil when polling only
	Unregister func()                   // stops accepting the token; idempotent
}

// Register accepts deliveries for token ("" = a fresh random one). Without
// a listener it returns an empty registration.
func (r *Receiver) Register(token string) (*Registration, error) {
	if !r.Listening() {
		return &Registration{Unregister: func() {}}, nil
	}
	r.preMu.Lock()
	if pre := r.pre; pre != nil && pre.Token == token {
		r.pre = nil
		r.preMu.Unlock()
		return pre, nil
	}
	r.preMu.Unlock()
	if token == "" {
		token = ids.Token()
	}
	return r.register(token)
}

func (r *Receiver) register(token string) (*Registration, error) {
	deliveries, unregister, err := r.l.Register(token)
	if err != nil {
		return nil, err
	}
	return &Registration{Token: token, URL: r.URL + "/" + token, Deliveries: deliveries, Unregister: unregister}, nil
}

// JobRegistration is one job's token: its URL and its deliveries as events
// for job.Wait.
type JobRegistration struct {
	URL        string           // "" when polling only
	Events     <-chan job.Event // nil when polling only
	Unregister func()           // idempotent; returns once no event can follow
}

// RegisterJob gives a job a fresh secret token. Deliveries past what the
// wait can take are acknowledged and ignored: the wait is over or swamped.
func (r *Receiver) RegisterJob() (*JobRegistration, error) {
	reg, err := r.Register("")
	if err != nil {
		return nil, err
	}
	if reg.Deliveries == nil {
		return &JobRegistration{Unregister: func() {}}, nil
	}
	events := make(chan job.Event, listener.DefaultBuffer)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer close(events)
		for d := range reg.Deliveries {
			r.opts.debugf("webhook listener: delivery of %d bytes from %s", len(d.Body), d.RemoteAddr)
			select {
			case events <- job.Event{Body: d.Body, ReceivedAt: d.ReceivedAt}:
			default:
			}
		}
	}()
	var once sync.Once
	return &JobRegistration{URL: reg.URL, Events: events, Unregister: func() {
		once.Do(func() {
			reg.Unregister()
			<-copied
		})
	}}, nil
}

// Stopped is closed when the listener stops serving (after Shutdown, or on
// its own); Err then says why.
func (r *Receiver) Stopped() <-chan struct{} { return r.served }

// Err is why the listener stopped serving ("closed" after Shutdown); nil
// while it serves or when there is none.
func (r *Receiver) Err() error {
	select {
	case <-r.served:
		return r.serveErr
	default:
		return nil
	}
}

// Stats reports the listener's accepted, rejected and dropped counts.
func (r *Receiver) Stats() (accepted, rejected, dropped uint64) {
	if !r.Listening() {
		return 0, 0, 0
	}
	return r.l.Stats()
}

// Shutdown stops accepting requests and lets in-flight ones finish (within
// 2 s); registered tokens stay registered, so their deliveries are queued.
func (r *Receiver) Shutdown() {
	if !r.Listening() {
		return
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r.l.Shutdown(sctx)
}

// Close shuts the listener down and closes the tunnel. It is idempotent.
func (r *Receiver) Close() {
	if r == nil {
		return
	}
	r.closeOnce.Do(func() {
		r.Shutdown()
		if r.ep != nil {
			r.ep.Close()
		}
		<-r.served
	})
}

// WaitingFor says how results will arrive, for the "submitted" line.
func (r *Receiver) WaitingFor() string {
	if !r.Listening() {
		return "; polling for the result"
	}
	return "; waiting for its webhook (" + string(r.Mode) + ") and polling as a fallback"
}

// IsLoopbackURL reports whether raw names this machine (localhost or a
// loopback IP).
func IsLoopbackURL(raw string) bool {
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

// clip keeps at most 100 bytes of an untrusted string for a log line.
func clip(s string) string {
	if len(s) <= 100 {
		return s
	}
	cut := 100
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
