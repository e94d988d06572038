package tunnel

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultListenAddr is the listen address used by local and url modes when
// Options.ListenAddr is empty: loopback, any free port.
const DefaultListenAddr = "127.0.0.1:0"

// DefaultConnectTimeout bounds the ngrok connect and listen step when
// Options.ConnectTimeout is zero.
const DefaultConnectTimeout = 15 * time.Second

// Options configures [Open].
type Options struct {
	// Mode selects the receiver; "" means ModeAuto.
	Mode Mode
	// ListenAddr is the local listen address for local and url modes.
	// Default DefaultListenAddr ("127.0.0.1:0").
	ListenAddr string
	// PublicURL is the user's own public base URL (a reverse proxy, their own
	// tunnel). With ModeAuto or ModeURL, Open listens on ListenAddr and
	// advertises PublicURL.
	PublicURL string
	// Authtoken is the ngrok authtoken, resolved by mlab's config chain.
	// Open never reads the environment itself.
	Authtoken string
	// NgrokURL optionally fixes the ngrok endpoint URL or domain (a reserved
	// or dev domain), passed to ngrok.WithURL.
	NgrokURL string
	// ConnectTimeout bounds the ngrok connect and listen step. Default
	// DefaultConnectTimeout (15s).
	ConnectTimeout time.Duration
	// Logger receives the ngrok SDK's logs. Default: a logger that discards
	// everything (never slog.Default, where the SDK would print warnings to
	// stderr).
	Logger *slog.Logger
	// Version is mlab's version, reported to ngrok as client info "mlab".
	Version string

	// AgentConnectURL overrides ngrok's agent ingress address (host:port).
	// It exists for tests (see package ngrokfake) and for self-hosted or
	// regional ingress; leave it empty in normal use.
	AgentConnectURL string
	// AgentConnectCAs replaces the CA pool that verifies the agent ingress
	// certificate. For tests and self-hosted ingress, like AgentConnectURL.
	AgentConnectCAs *x509.CertPool

	// Heartbeat, when set (by tests only), shortens the muxado heartbeat
	// interval (with a 2 s tolerance). muxado's heartbeat requester
	// goroutine notices a closed session only at its next tick (10 s by
	// default), so leak tests need a short interval to see a clean slate
	// quickly. Leave it zero in normal use.
	Heartbeat time.Duration
}

// Endpoint is an opened webhook receiver.
type Endpoint struct {
	// Mode is the resolved mode: never ModeAuto.
	Mode Mode
	// URL is the public base URL without a trailing slash, e.g.
	// "https://abcd.ngrok-free.dev" or "http://127.0.0.1:43121"; "" for
	// ModeNone.
	URL string
	// Listener is where to serve the webhook handler (http.Serve); nil for
	// ModeNone. For ngrok, closing it closes the whole endpoint, quickly.
	Listener net.Listener
	// Notice is one human-readable line for stderr when Open decided
	// something on the user's behalf (auto mode fell back to polling); ""
	// otherwise.
	Notice string

	closeOnce sync.Once
	closeErr  error
	closeFn   func() error
}

// Close releases the endpoint. It is idempotent, safe for concurrent use and
// fast: for ngrok it disconnects the agent and ends the session without the
// Unbind round trip that can block on a dead link.
func (e *Endpoint) Close() error {
	if e == nil {
		return nil
	}
	e.closeOnce.Do(func() {
		if e.closeFn != nil {
			e.closeErr = e.closeFn()
		}
	})
	return e.closeErr
}

// Notices printed when auto mode decides to poll.
const (
	noticeNoToken      = "no ngrok authtoken (NGROK_AUTHTOKEN): polling for results; set one to get webhooks"
	noticeNgrokFailFmt = "ngrok tunnel unavailable (%s); falling back to polling"
)

// Open opens the receiver described by opts.
//
// In ModeAuto a failing ngrok tunnel is not an error: Open returns an
// Endpoint with Mode ModeNone and a Notice, so the caller polls. Only the
// caller's own ctx ending is returned as an error in that case.
func Open(ctx context.Context, opts Options) (*Endpoint, error) {
	mode := opts.Mode
	if mode == "" {
		mode = ModeAuto
	}
	switch mode {
	case ModeNone:
		return &Endpoint{Mode: ModeNone}, nil
	case ModeLocal:
		return openLocal(opts.ListenAddr)
	case ModeURL:
		return openURL(opts.ListenAddr, opts.PublicURL)
	case ModeNgrok:
		if strings.TrimSpace(opts.Authtoken) == "" {
			return nil, ErrNoAuthtoken
		}
		return openNgrok(ctx, opts)
	case ModeAuto:
		if opts.PublicURL != "" {
			return openURL(opts.ListenAddr, opts.PublicURL)
		}
		if strings.TrimSpace(opts.Authtoken) == "" {
			return &Endpoint{Mode: ModeNone, Notice: noticeNoToken}, nil
		}
		ep, err := openNgrok(ctx, opts)
		if err == nil {
			return ep, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		reason := err.Error()
		var te *Error
		if errors.As(err, &te) {
			reason = te.reason()
		}
		return &Endpoint{Mode: ModeNone, Notice: fmt.Sprintf(noticeNgrokFailFmt, reason)}, nil
	default:
		_, perr := ParseMode(string(mode))
		return nil, perr
	}
}

func listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = DefaultListenAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for webhooks on %s: %w", addr, err)
	}
	return ln, nil
}

func openLocal(addr string) (*Endpoint, error) {
	ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	return &Endpoint{
		Mode:     ModeLocal,
		URL:      "http://" + advertisedAddr(ln.Addr()),
		Listener: ln,
		closeFn:  closeListener(ln),
	}, nil
}

func openURL(addr, public string) (*Endpoint, error) {
	u, err := ValidatePublicURL(public)
	if err != nil {
		return nil, err
	}
	ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	return &Endpoint{
		Mode:     ModeURL,
		URL:      u,
		Listener: ln,
		closeFn:  closeListener(ln),
	}, nil
}

// ValidatePublicURL checks that s is an absolute http or https URL with a
// host and no query or fragment, and returns it without trailing slashes.
func ValidatePublicURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("tunnel mode url needs a public URL such as https://your.host/path")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid public URL %q: %w: pass an absolute URL such as https://your.host/hooks", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("invalid public URL %q: it must be an absolute http(s) URL such as https://your.host/hooks", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("invalid public URL %q: remove the query or fragment; mlab appends a per-job path to it", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// advertisedAddr renders a listener address as host:port, replacing an
// unspecified IP (0.0.0.0, ::) with 127.0.0.1.
func advertisedAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip := ta.IP
		if ip == nil || ip.IsUnspecified() {
			ip = net.IPv4(127, 0, 0, 1)
		}
		return net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
	}
	return a.String()
}

func closeListener(ln io.Closer) func() error {
	return func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("close webhook listener: %w", err)
		}
		return nil
	}
}
