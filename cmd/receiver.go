package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/listener"
	"github.com/mlabcli/mlab/internal/tunnel"
)

// receiver is the webhook side of a run: one tunnel and one listener, shared
// by every job of the run, each job with its own path token.
type receiver struct {
	f     *Factory
	mode  tunnel.Mode      // the resolved tunnel mode
	base  string           // public base URL; "" when polling only
	l     *listener.Server // nil when polling only
	close func()
}

// registration is one job's place on the receiver.
type registration struct {
	url        string           // full webhook URL with the job's token
	events     <-chan job.Event // its deliveries
	unregister func()
}

func (rc *receiver) waitingFor() string {
	if rc == nil || rc.l == nil {
		return "; polling for the result"
	}
	return "; waiting for its webhook (" + string(rc.mode) + ") and polling as a fallback"
}

// register gives a job a fresh secret token. Without a listener it returns
// an empty registration (poll only).
func (rc *receiver) register() (*registration, error) {
	if rc.l == nil {
		return &registration{unregister: func() {}}, nil
	}
	token, err := listener.NewToken()
	if err != nil {
		return nil, err
	}
	deliveries, unregister, err := rc.l.Register(token)
	if err != nil {
		return nil, err
	}
	debug := rc.f.DebugWriter()
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
	return &registration{
		url:    rc.base + "/" + token,
		events: events,
		unregister: func() {
			unregister()
			<-copyDone
		},
	}, nil
}

// openReceiver opens the tunnel and the listener. With --tunnel auto a
// loopback API (the sandbox, a local proxy) gets a loopback listener: it can
// reach it, and no tunnel is needed.
func openReceiver(ctx context.Context, f *Factory, o *JobOptions, baseURL, ngrokToken, cfgTunnel string) (*receiver, error) {
	ios := f.IO
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
	rc := &receiver{f: f, mode: ep.Mode, close: func() { ep.Close() }}
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
	rc.l, rc.base = l, ep.URL
	rc.close = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.Shutdown(sctx)
		ep.Close()
		<-serveDone
	}
	if ep.Mode == tunnel.ModeNgrok {
		// A fresh ngrok endpoint 404s at the edge for a moment: probe it
		// through a token of its own before handing URLs to the API.
		probe, err := rc.register()
		if err == nil {
			err = tunnel.WaitReady(ctx, http.DefaultClient, probe.url, o.TunnelWait)
			probe.unregister()
		}
		if err != nil {
			ios.Warnf("the ngrok tunnel is not routable yet (%v); polling for results", err)
			rc.close()
			return &receiver{f: f, mode: tunnel.ModeNone, close: func() {}}, nil
		}
	}
	return rc, nil
}
