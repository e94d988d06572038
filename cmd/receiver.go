package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/mlabcli/mlab/internal/receiver"
)

// testSeams are the tests' hooks into the command path (Factory.seams):
// what no flag or environment variable may reach. nil in normal use.
type testSeams struct {
	apiHTTP *http.Client                  // the API client's HTTP client (a name that resolves to a test server)
	tunnel  func(*receiver.TunnelOptions) // the ngrok tunnel's options (a fake or black-holed ingress)
}

// receiverOptions are the receiver settings every command shares: the
// --debug log, notices on stderr (secrets redacted) and the version.
func (f *Factory) receiverOptions() receiver.Options {
	o := receiver.Options{
		Version: f.Build.Version,
		Notify: func(n receiver.Notice) {
			if n.Warn {
				f.IO.Warnf("%s", f.redact(n.Text))
			} else {
				f.IO.Infof("%s", f.redact(n.Text))
			}
		},
	}
	if w := f.DebugWriter(); w != nil {
		o.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Debug = func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	}
	if f.seams != nil {
		o.Tunnel = f.seams.tunnel
	}
	return o
}

// openReceiver opens the webhook receiver of a job command (before any
// submit: the webhook URL must exist before the request is sent).
func openReceiver(ctx context.Context, f *Factory, o *JobOptions, baseURL, ngrokToken, cfgTunnel string) (*receiver.Receiver, error) {
	mode, err := receiver.ParseMode(cmp.Or(o.Tunnel, cfgTunnel))
	if err != nil {
		return nil, &ConfigError{Msg: "MLAB_TUNNEL: " + err.Error(), Hint: "use auto, ngrok, local or none"}
	}
	ro := f.receiverOptions()
	ro.Mode, ro.APIBase, ro.ListenAddr, ro.PublicURL = mode, baseURL, o.Listen, o.PublicURL
	ro.Authtoken, ro.ConnectTimeout, ro.Fallback = ngrokToken, o.TunnelWait, receiver.FallbackPoll
	rc, err := receiver.Open(ctx, ro)
	if err != nil {
		return nil, receiverError(ctx, err, "--tunnel local/none")
	}
	return rc, nil
}

// receiverError says what to do about a receiver that did not open.
func receiverError(ctx context.Context, err error, alternatives string) error {
	switch {
	case errors.Is(err, receiver.ErrNoAuthtoken):
		return &ConfigError{Msg: "--tunnel ngrok needs an ngrok authtoken", Hint: "set NGROK_AUTHTOKEN (https://dashboard.ngrok.com/get-started/your-authtoken), or use " + alternatives}
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("open the webhook receiver: %w", err)
}
