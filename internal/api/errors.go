package api

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ErrorKind classifies an [*Error] so callers can pick an exit code and a hint.
type ErrorKind int

const (
	// KindRejected: the API answered status error/failed to the request
	// (validation, model not found, job failed at submit).
	KindRejected ErrorKind = iota
	// KindAuth: HTTP 401, or a message about an invalid API key.
	KindAuth
	// KindCredits: HTTP 402 or insufficient credits.
	KindCredits
	// KindForbidden: HTTP 403 (e.g. the plan lacks the feature).
	KindForbidden
	// KindRateLimited: HTTP 429 (retries exhausted) or a rate-limit message.
	KindRateLimited
	// KindServer: HTTP 5xx.
	KindServer
	// KindNetwork: a transport error (dial, reset, timeout).
	KindNetwork
	// KindDecode: the body is not JSON, or not a response we understand.
	KindDecode
)

// String returns a short snake_case name, e.g. "rate_limited".
func (k ErrorKind) String() string {
	switch k {
	case KindRejected:
		return "rejected"
	case KindAuth:
		return "auth"
	case KindCredits:
		return "credits"
	case KindForbidden:
		return "forbidden"
	case KindRateLimited:
		return "rate_limited"
	case KindServer:
		return "server"
	case KindNetwork:
		return "network"
	case KindDecode:
		return "decode"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a failed API call. Its text never contains the API key.
type Error struct {
	// Op is what was attempted: "submit text2img", "fetch 134701497".
	Op string
	// Kind classifies the failure.
	Kind ErrorKind
	// HTTPStatus is the HTTP status code; 0 when no response arrived.
	HTTPStatus int
	// Status is the body's "status", if any.
	Status string
	// Message is the body's message (message/messege, flattened).
	Message string
	// Code is the body's error code (v7: "code", e.g. provider_error).
	Code string
	// Refused is set on a submit the API turned down without a job id:
	// no job was created, so there is nothing to wait for or pay.
	Refused bool
	// RetryAfter is how long the server asked us to wait, if it said.
	RetryAfter time.Duration
	// Err is the underlying error, if any.
	Err error

	secrets []string // redacted from Error()
	noJob   bool     // the answer carried no job id
}

// Error returns e.g. "submit text2img: HTTP 401: Invalid Api Key". The HTTP
// status is shown when it is not 2xx.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.HTTPStatus != 0 && (e.HTTPStatus < 200 || e.HTTPStatus > 299) {
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	}
	switch {
	case e.Message != "":
		b.WriteString(": ")
		b.WriteString(e.Message)
	case e.Status != "":
		b.WriteString(": status ")
		b.WriteString(e.Status)
	case e.Err == nil:
		b.WriteString(": ")
		b.WriteString(e.Kind.String())
		b.WriteString(" error")
	}
	if e.Code != "" && !strings.Contains(e.Message, e.Code) {
		fmt.Fprintf(&b, " (code %s)", e.Code)
	}
	if e.Err != nil {
		b.WriteString(": ")
		cause := e.Err
		if ue, ok := cause.(*url.Error); ok {
			cause = ue.Err // its method and URL say again what Op says
		}
		b.WriteString(cause.Error())
	}
	if e.Kind == KindRateLimited && e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return Redact(b.String(), e.secrets...)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Hint says what the user can do next; "" when there is nothing useful to say.
func (e *Error) Hint() string {
	switch e.Kind {
	case KindAuth:
		return "check your API key (MODELSLAB_API_KEY)"
	case KindCredits:
		return "top up your ModelsLab credits, then try again"
	case KindForbidden:
		return "your ModelsLab plan does not allow this; check your subscription"
	case KindRateLimited:
		if e.RetryAfter > 0 {
			return fmt.Sprintf("too many queued requests: wait %s or lower the concurrency", e.RetryAfter)
		}
		return "too many queued requests: wait a little or lower the concurrency"
	case KindServer:
		return "ModelsLab had a server error; try again later"
	case KindNetwork:
		return "check your network connection and MODELSLAB_BASE_URL"
	case KindDecode:
		return "the server's answer was not understood; check MODELSLAB_BASE_URL (a proxy or captive portal?)"
	case KindRejected:
		if e.Refused {
			return "the API created no job: check the request parameters (mlab help for the endpoint; mlab models show MODEL)"
		}
		return "check the request parameters (mlab help for the endpoint)"
	}
	return ""
}

// ErrorKindOf returns the Kind of the first *Error in err's chain.
func ErrorKindOf(err error) (ErrorKind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return 0, false
}

// IsKind reports whether err's chain holds an *Error of kind k.
func IsKind(err error, k ErrorKind) bool {
	got, ok := ErrorKindOf(err)
	return ok && got == k
}

// kindFromMessage recognises auth, credit and rate-limit failures that
// arrive as a body message (often with HTTP 200).
func kindFromMessage(msg string) (ErrorKind, bool) {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "api key"), strings.Contains(m, "api_key"), strings.Contains(m, "apikey"):
		return KindAuth, true
	case strings.Contains(m, "credit") && containsAny(m, "insufficient", "enough", "no more", "out of", "exhausted", "add more", "low balance", "top up"):
		return KindCredits, true
	case strings.Contains(m, "rate limit"):
		return KindRateLimited, true
	}
	return 0, false
}

// kindFromHTTP maps HTTP statuses that decide the kind on their own.
func kindFromHTTP(code int) (ErrorKind, bool) {
	switch {
	case code == 401:
		return KindAuth, true
	case code == 402:
		return KindCredits, true
	case code == 403:
		return KindForbidden, true
	case code == 429:
		return KindRateLimited, true
	case code >= 500:
		return KindServer, true
	}
	return 0, false
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
