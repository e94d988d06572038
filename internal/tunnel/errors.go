package tunnel

import (
	"errors"
	"regexp"
	"strings"
)

// ErrNoAuthtoken is returned by [Open] in [ModeNgrok] when no authtoken is
// configured. It is a configuration error: the SDK is never started, because
// it would retry an unauthenticated connect forever.
var ErrNoAuthtoken = errors.New("no ngrok authtoken configured: set NGROK_AUTHTOKEN (get one at https://dashboard.ngrok.com/get-started/your-authtoken)")

// Error describes why a tunnel could not be opened. Its text never contains
// the authtoken.
type Error struct {
	// Mode is the mode that failed (ModeNgrok for tunnel failures).
	Mode Mode
	// Code is the ngrok error code, such as "ERR_NGROK_105", or "" when the
	// failure carried none (a timeout, a network error).
	Code string
	// Err is the underlying error, with the authtoken redacted from its text.
	// errors.As still reaches the SDK's ngrok.Error through it.
	Err error
	// Hint says what the user can do next, e.g. "check your network or
	// firewall". It may be empty.
	Hint string

	// what is the short friendly description of the failure.
	what string
}

// Error returns "open ngrok tunnel: <friendly text> (ERR_NGROK_105)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("open ")
	b.WriteString(string(e.Mode))
	b.WriteString(" tunnel: ")
	b.WriteString(e.text())
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	if e.Code != "" {
		b.WriteString(" (")
		b.WriteString(e.Code)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Reason is the short form for a one-line notice: the description and the
// code, without the hint, e.g. "the ngrok authtoken is malformed,
// ERR_NGROK_105". Like Error, it never contains the authtoken.
func (e *Error) Reason() string { return e.reason() }

// reason is the short form used in auto mode's notice: the description and
// the code, without the hint.
func (e *Error) reason() string {
	if e.Code != "" {
		return e.text() + ", " + e.Code
	}
	return e.text()
}

func (e *Error) text() string {
	if e.what != "" {
		return e.what
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return "unknown error"
}

// codeText maps the ngrok error codes mlab users actually hit to a friendly
// description and what to do next.
var codeText = map[string][2]string{
	"ERR_NGROK_4018": {"ngrok requires a verified account and authtoken",
		"sign up at https://dashboard.ngrok.com/signup and set NGROK_AUTHTOKEN"},
	"ERR_NGROK_105": {"the ngrok authtoken is malformed",
		"copy it again from https://dashboard.ngrok.com/get-started/your-authtoken into NGROK_AUTHTOKEN"},
	"ERR_NGROK_107": {"the ngrok authtoken was revoked",
		"create a new one at https://dashboard.ngrok.com/get-started/your-authtoken and set NGROK_AUTHTOKEN"},
	"ERR_NGROK_108": {"your ngrok account has too many agent sessions online",
		"stop another ngrok agent or mlab run"},
	"ERR_NGROK_334": {"the ngrok URL is already online in another session",
		"stop the other agent or mlab run, or choose another ngrok URL"},
}

var ngrokCodeRE = regexp.MustCompile(`ERR_NGROK_\d+`)

// redacted wraps an error so that its text never shows secret, while
// errors.Is/As still see the original chain.
type redacted struct {
	err    error
	secret string
}

func (r *redacted) Error() string { return redact(r.err.Error(), r.secret) }
func (r *redacted) Unwrap() error { return r.err }

func redactErr(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	return &redacted{err: err, secret: secret}
}

func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[REDACTED]")
}

// firstLine returns the first non-empty line of s without the ngrok error
// code lines the SDK appends, trimmed to a reasonable length.
func firstLine(s string) string {
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || ngrokCodeRE.MatchString(line) && len(line) < 20 {
			continue
		}
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		return line
	}
	return ""
}
