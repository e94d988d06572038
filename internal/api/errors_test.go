package api

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "submit text2img", Kind: KindAuth, HTTPStatus: 401, Status: "error", Message: "Invalid Api Key"},
			"submit text2img: HTTP 401: Invalid Api Key"},
		{&Error{Op: "submit text2img", Kind: KindRejected, HTTPStatus: 200, Status: "error", Message: "Model id not found"},
			"submit text2img: Model id not found"},
		{&Error{Op: "fetch 1", Kind: KindRejected, HTTPStatus: 200, Status: "failed"},
			"fetch 1: status failed"},
		{&Error{Op: "fetch 1", Kind: KindServer, HTTPStatus: 502},
			"fetch 1: HTTP 502: server error"},
		{&Error{Op: "fetch 1", Kind: KindNetwork, Err: io.ErrUnexpectedEOF},
			"fetch 1: unexpected EOF"},
		{&Error{Op: "submit x", Kind: KindRateLimited, HTTPStatus: 429, Message: "Rate limit exceeded", RetryAfter: 30 * time.Second},
			"submit x: HTTP 429: Rate limit exceeded (retry after 30s)"},
		{&Error{Op: "submit x", Kind: KindAuth, HTTPStatus: 401, Message: "bad key sk-1", secrets: []string{"sk-1"}},
			"submit x: HTTP 401: bad key [redacted]"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestErrorUnwrapAndKinds(t *testing.T) {
	base := errors.New("boom")
	err := fmt.Errorf("outer: %w", &Error{Op: "fetch 1", Kind: KindNetwork, Err: base})
	if !errors.Is(err, base) {
		t.Error("errors.Is through *Error failed")
	}
	if !IsKind(err, KindNetwork) || IsKind(err, KindAuth) || IsKind(base, KindNetwork) {
		t.Error("IsKind")
	}
	if k, ok := ErrorKindOf(err); !ok || k != KindNetwork {
		t.Error("ErrorKindOf")
	}
}

func TestHints(t *testing.T) {
	want := map[ErrorKind]string{
		KindRejected:    "parameters",
		KindAuth:        "MODELSLAB_API_KEY",
		KindCredits:     "credits",
		KindForbidden:   "plan",
		KindRateLimited: "concurrency",
		KindServer:      "later",
		KindNetwork:     "MODELSLAB_BASE_URL",
		KindDecode:      "MODELSLAB_BASE_URL",
	}
	for k, sub := range want {
		e := &Error{Kind: k}
		if !strings.Contains(e.Hint(), sub) {
			t.Errorf("%v hint %q lacks %q", k, e.Hint(), sub)
		}
		if strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("%d has no name", int(k))
		}
	}
	if (&Error{Kind: ErrorKind(99)}).Hint() != "" || ErrorKind(99).String() != "kind(99)" {
		t.Error("unknown kind")
	}
}

func TestKindFromMessage(t *testing.T) {
	tests := map[string]ErrorKind{
		"Invalid Api Key":                        KindAuth,
		"invalid api key":                        KindAuth,
		"Invalid API key":                        KindAuth,
		"Insufficient credits. Please add more.": KindCredits,
		"You do not have enough credits":         KindCredits,
		"Rate limit exceeded":                    KindRateLimited,
	}
	for msg, want := range tests {
		if got, ok := kindFromMessage(msg); !ok || got != want {
			t.Errorf("kindFromMessage(%q) = %v, %v; want %v", msg, got, ok, want)
		}
	}
	for _, msg := range []string{"Model id not found", "Failed, Try Again", "credit card declined? no", ""} {
		if got, ok := kindFromMessage(msg); ok {
			t.Errorf("kindFromMessage(%q) = %v", msg, got)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("key=abc123 and abc123", "abc123"); got != "key=[redacted] and [redacted]" {
		t.Errorf("Redact = %q", got)
	}
	if got := Redact("abcdef", "", "abc", "abcdef"); got != "[redacted]" {
		t.Errorf("longest first: %q", got)
	}
	if got := Redact("nothing here"); got != "nothing here" {
		t.Errorf("no secrets: %q", got)
	}
}
