package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"
)

// RetryEvent says that a call is about to be tried again: the client
// sleeps Wait first. It is what a person should see instead of a blank
// terminal ("rate limited, retrying in 2s").
type RetryEvent struct {
	Op      string        // the call: "submit text2img", "fetch 134701497"
	Attempt int           // the attempt that failed (1 is the first)
	Wait    time.Duration // the sleep before the next attempt
	// Reason says why, in a few words: "rate limited", "HTTP 503",
	// "unreachable" (see [RetryReason]).
	Reason string
}

// String is the line a person sees: "rate limited, retrying in 2s".
func (e RetryEvent) String() string {
	secs := max(int(math.Ceil(e.Wait.Seconds())), 1)
	return fmt.Sprintf("%s, retrying in %ds", e.Reason, secs)
}

// WithRetryNotify makes the client call fn before each sleep between two
// attempts of a call (Submit's and Fetch's own retries: HTTP 429, 5xx, a
// connection that failed). fn is called on the calling goroutine and must
// be quick; it is never given the key.
func WithRetryNotify(fn func(RetryEvent)) Option {
	return func(c *Client) { c.retryNotify = fn }
}

// RetryReason says in a few words why err is worth another try: "rate
// limited" (HTTP 429 or a rate-limit message), "HTTP 503" (any other HTTP
// status), "unreachable" (no answer: the connection failed or broke), or
// "error" for anything else.
func RetryReason(err error) string {
	var ae *Error
	if !errors.As(err, &ae) {
		return "error"
	}
	switch {
	case ae.Kind == KindRateLimited:
		return "rate limited"
	case ae.Kind == KindNetwork:
		return "unreachable"
	case ae.HTTPStatus != 0:
		return fmt.Sprintf("HTTP %d", ae.HTTPStatus)
	}
	return "error"
}

// exchangeReason is RetryReason for an exchange about to be retried.
func exchangeReason(x exchange) string {
	switch {
	case x.err != nil:
		return "unreachable"
	case x.code == http.StatusTooManyRequests:
		return "rate limited"
	case x.resp != nil:
		if k, ok := kindFromMessage(x.resp.Message); ok && k == KindRateLimited {
			return "rate limited"
		}
	}
	if x.code != 0 {
		return fmt.Sprintf("HTTP %d", x.code)
	}
	return "error"
}

// notifyRetry tells WithRetryNotify's function, if any.
func (c *Client) notifyRetry(op string, attempt int, wait time.Duration, x exchange) {
	if c.retryNotify != nil {
		c.retryNotify(RetryEvent{Op: op, Attempt: attempt, Wait: wait, Reason: exchangeReason(x)})
	}
}
