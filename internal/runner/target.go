package runner

import (
	"fmt"
	"net/url"
	"strings"
)

// Where a journalled job may be polled. The API key goes only to the API
// it is configured for: a job journalled with another base URL is polled
// with the key only once that URL is the configured one (the person said
// so, e.g. with MODELSLAB_BASE_URL), and a job of an in-process sandbox
// never is (the sandbox ended with the mlab that ran it; whatever holds its
// loopback port now is not it).

// sandboxPrefix marks the base URL journalled for a job of an in-process
// sandbox ("sandbox+http://127.0.0.1:40123"): no HTTP client follows it.
const sandboxPrefix = "sandbox+"

// SandboxBase is the base URL journalled for a job of the in-process
// sandbox at base.
func SandboxBase(base string) string { return sandboxPrefix + base }

// IsSandboxBase reports whether a journalled base URL is a sandbox's.
func IsSandboxBase(base string) bool { return strings.HasPrefix(base, sandboxPrefix) }

// SandboxGoneError: the job ran on an in-process sandbox, which is gone.
type SandboxGoneError struct{ Addr string }

func (e *SandboxGoneError) Error() string {
	return fmt.Sprintf("the job ran on the in-process sandbox at %s, which ended with the mlab that started it: its state is gone", e.Addr)
}

// OtherAPIError: the job was submitted to another API than the one
// configured now, so the configured key is not sent there.
type OtherAPIError struct{ Recorded, Configured string }

func (e *OtherAPIError) Error() string {
	return fmt.Sprintf("the job was submitted to %s, not to the configured API %s: mlab does not send your key there", e.Recorded, e.Configured)
}

// ResumeBase is the API base on which a job journalled with recorded may
// be called with the key configured for configured: recorded itself when
// both are the same API ("" recorded means the configured one), else a
// *SandboxGoneError or an *OtherAPIError.
func ResumeBase(recorded, configured string) (string, error) {
	switch {
	case recorded == "":
		return configured, nil
	case IsSandboxBase(recorded):
		return "", &SandboxGoneError{Addr: strings.TrimPrefix(recorded, sandboxPrefix)}
	case SameAPI(recorded, configured):
		return recorded, nil
	}
	return "", &OtherAPIError{Recorded: recorded, Configured: configured}
}

// SameAPI reports whether two base URLs name the same API: the same
// scheme, host and port (a default port written or not) and path (a
// trailing slash aside).
func SameAPI(a, b string) bool {
	ua, err1 := url.Parse(strings.TrimSpace(a))
	ub, err2 := url.Parse(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || ua.Host == "" || ub.Host == "" {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && hostPort(ua) == hostPort(ub) &&
		strings.TrimRight(ua.Path, "/") == strings.TrimRight(ub.Path, "/")
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}
