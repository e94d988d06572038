package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

var errReadyBudget = errors.New("readiness budget exhausted")

// WaitReady probes probeURL with GET until it answers with any status other
// than 404, or budget passes. A fresh ngrok endpoint answers 404 (or fails to
// connect) for a while after Listen returns, so the webhook URL should not be
// handed to the API before this returns nil. client nil means
// http.DefaultClient. The probe backs off from 100 ms to 1 s between tries.
//
// Error texts name only the probe URL's scheme and host, never its path,
// which usually carries mlab's secret per-job token.
func WaitReady(ctx context.Context, client *http.Client, probeURL string, budget time.Duration) error {
	if client == nil {
		client = http.DefaultClient
	}
	u, err := url.Parse(probeURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("probe webhook URL: invalid URL (scheme and host required)")
	}
	where := u.Scheme + "://" + u.Host
	ctx, cancel := context.WithTimeoutCause(ctx, budget, errReadyBudget)
	defer cancel()

	wait := 100 * time.Millisecond
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, probeURL, nil)
		if err != nil {
			return fmt.Errorf("probe webhook URL on %s: %w", where, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				return nil
			}
			last = resp.Status
		} else {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			last = err.Error()
		}

		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(context.Cause(ctx), errReadyBudget) {
				return fmt.Errorf("webhook URL on %s not reachable within %s (last: %s): results will be polled", where, budget, last)
			}
			return fmt.Errorf("probe webhook URL on %s: %w", where, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, time.Second)
	}
}
