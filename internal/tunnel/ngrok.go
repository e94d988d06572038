package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	ngrok "golang.ngrok.com/ngrok/v2"
)

// ErrConnectTimeout is wrapped by the [Error] returned when the ngrok connect
// and listen step did not finish within Options.ConnectTimeout.
var ErrConnectTimeout = errors.New("ngrok connect timed out")

// listenGrace is how long Open waits, after giving up on a connect, for the
// SDK to return the errors it collected (to report the ngrok error code).
// Cancelling the session ctx makes it return almost at once.
const listenGrace = time.Second

type listenResult struct {
	ln  ngrok.EndpointListener
	err error
}

func openNgrok(ctx context.Context, opts Options) (*Endpoint, error) {
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	token := strings.TrimSpace(opts.Authtoken)
	if err := checkNgrokURL(opts.NgrokURL); err != nil {
		return nil, err
	}

	agentOpts := []ngrok.AgentOption{
		ngrok.WithAuthtoken(token),
		ngrok.WithLogger(logger),
		ngrok.WithClientInfo("mlab", version),
	}
	if opts.AgentConnectURL != "" {
		agentOpts = append(agentOpts, ngrok.WithAgentConnectURL(opts.AgentConnectURL))
	}
	if opts.AgentConnectCAs != nil {
		agentOpts = append(agentOpts, ngrok.WithAgentConnectCAs(opts.AgentConnectCAs))
	}
	if opts.Heartbeat > 0 {
		agentOpts = append(agentOpts,
			ngrok.WithHeartbeatInterval(opts.Heartbeat),
			ngrok.WithHeartbeatTolerance(2*time.Second))
	}
	agent, err := ngrok.NewAgent(agentOpts...)
	if err != nil {
		return nil, &Error{Mode: ModeNgrok, Err: redactErr(err, token), what: "could not create the ngrok agent"}
	}
	var epOpts []ngrok.EndpointOption
	if opts.NgrokURL != "" {
		epOpts = append(epOpts, ngrok.WithURL(opts.NgrokURL))
	}

	// The ctx given to Listen is the lifetime of the whole session (SDK
	// pitfall): it must be cancel-only and owned by the Endpoint. The wait is
	// bounded separately, below.
	sessCtx, cancelSess := context.WithCancel(context.Background())
	done := make(chan listenResult, 1)
	go func() {
		ln, err := agent.Listen(sessCtx, epOpts...)
		done <- listenResult{ln, err}
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var (
		r        listenResult
		timedOut bool
		ctxErr   error
	)
	select {
	case r = <-done:
		if r.err == nil {
			return ngrokEndpoint(agent, r.ln, cancelSess, logger), nil
		}
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}

	// Failure. Cancelling the session ctx ends a pending connect (a
	// Disconnect would block on the agent's mutex until the connect ends)
	// and closes a connected session, which unblocks a stuck Bind.
	cancelSess()
	if timedOut || ctxErr != nil {
		grace := time.NewTimer(listenGrace)
		select {
		case r = <-done:
			grace.Stop()
		case <-grace.C:
			go func() {
				<-done
				_ = agent.Disconnect()
			}()
			return nil, ngrokFailure(nil, token, timeout, timedOut, ctxErr)
		}
	}
	// Listen has returned, so the agent's mutex is free and Disconnect is
	// quick; it releases a session that connected before the Bind failed.
	_ = agent.Disconnect()
	return nil, ngrokFailure(r.err, token, timeout, timedOut, ctxErr)
}

func ngrokEndpoint(agent ngrok.Agent, ln ngrok.EndpointListener, cancelSess context.CancelFunc, logger *slog.Logger) *Endpoint {
	nl := &ngrokListener{ln: ln, closed: make(chan struct{})}
	ep := &Endpoint{
		Mode:     ModeNgrok,
		URL:      strings.TrimRight(ln.URL().String(), "/"),
		Listener: nl,
	}
	ep.closeFn = func() error {
		nl.markClosed()
		// Never ln.Close: it sends an Unbind RPC and waits for the answer,
		// ~25 s on a dead link. Disconnect drops the session at once and the
		// server forgets its endpoints by itself.
		// Its error only says the session was already dead (a dropped link):
		// nothing for the user to act on, so it is logged, not returned.
		if err := agent.Disconnect(); err != nil {
			logger.Debug("ngrok disconnect", "err", err)
		}
		cancelSess()
		return nil
	}
	nl.close = ep.Close
	return ep
}

// ngrokListener exposes an ngrok endpoint as a plain net.Listener whose Close
// closes the whole Endpoint (quickly), so http.Server.Shutdown and friends
// can't fall into the slow Unbind path.
type ngrokListener struct {
	ln     ngrok.EndpointListener
	close  func() error
	once   sync.Once
	closed chan struct{}
}

func (l *ngrokListener) markClosed() { l.once.Do(func() { close(l.closed) }) }

// Accept waits for the next connection proxied through the tunnel.
func (l *ngrokListener) Accept() (net.Conn, error) {
	c, err := l.ln.Accept()
	if err != nil {
		select {
		case <-l.closed:
			return nil, net.ErrClosed
		default:
		}
		return nil, fmt.Errorf("accept on ngrok tunnel: %w", err)
	}
	return c, nil
}

// Close closes the Endpoint that owns this listener.
func (l *ngrokListener) Close() error { return l.close() }

// Addr returns the public address of the endpoint.
func (l *ngrokListener) Addr() net.Addr { return l.ln.Addr() }

// ngrokFailure turns what the SDK returned into an *Error with friendly text.
func ngrokFailure(sdkErr error, token string, timeout time.Duration, timedOut bool, ctxErr error) *Error {
	e := &Error{Mode: ModeNgrok}
	var ne ngrok.Error
	if sdkErr != nil {
		if errors.As(sdkErr, &ne) {
			e.Code = ne.Code()
		}
		if e.Code == "" {
			e.Code = ngrokCodeRE.FindString(sdkErr.Error())
		}
	}
	switch {
	case ctxErr != nil:
		e.Err = joinErr(ctxErr, sdkErr)
	case timedOut:
		e.Err = joinErr(ErrConnectTimeout, sdkErr)
	default:
		e.Err = sdkErr
	}
	e.Err = redactErr(e.Err, token)

	if t, ok := codeText[e.Code]; ok {
		e.what, e.Hint = t[0], t[1]
		return e
	}
	switch {
	case e.Code != "":
		msg := ""
		if ne != nil {
			msg = firstLine(redact(ne.Error(), token))
		}
		if msg == "" {
			msg = "ngrok refused the tunnel"
		}
		e.what = msg
		e.Hint = "see https://ngrok.com/docs/errors/" + strings.ToLower(e.Code) + "/"
	case ctxErr != nil:
		e.what = "interrupted while connecting to ngrok"
	case timedOut:
		e.what = fmt.Sprintf("could not reach ngrok within %s", timeout)
		e.Hint = "check your network or firewall"
	default:
		msg := ""
		if sdkErr != nil {
			msg = firstLine(redact(sdkErr.Error(), token))
		}
		if msg == "" {
			msg = "ngrok failed"
		}
		e.what = msg
		e.Hint = "check your network, firewall and ngrok settings"
	}
	return e
}

// checkNgrokURL rejects an ngrok URL that can't carry webhooks: mlab needs
// an HTTP(S) endpoint. A bare domain ("name.ngrok.app") is fine.
func checkNgrokURL(s string) error {
	if s == "" {
		return nil
	}
	scheme, _, ok := strings.Cut(s, "://")
	if ok && scheme != "https" && scheme != "http" {
		return fmt.Errorf("invalid ngrok URL %q: webhooks need an https:// (or http://) URL or a bare domain such as name.ngrok.app", s)
	}
	return nil
}

func joinErr(head, tail error) error {
	if tail == nil {
		return head
	}
	return fmt.Errorf("%w: %w", head, tail)
}
