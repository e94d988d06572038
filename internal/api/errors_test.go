package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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

// TestRedactEncodedForms: a key that some layer escaped or encoded is still
// found (issue 13); a word-like secret is only removed where it stands
// whole, a key wherever it appears (issue 18's review found a glued key).
func TestRedactEncodedForms(t *testing.T) {
	const key = "sk-ab/cd_0123456789XYZ"
	cases := []struct{ in, want string }{
		{`{"key":"sk-ab\/cd_0123456789XYZ"}`, `{"key":"[redacted]"}`},          // PHP's escaped slash
		{`{"key":"sk-ab\u002fcd_0123456789XYZ"}`, `{"key":"[redacted]"}`},      // JSON \u escape
		{`{"key":"\u0073\u006B-ab/cd_0123456789XYZ"}`, `{"key":"[redacted]"}`}, // escapes, mixed case
		{`"sk-ab\\u002Fcd_0123456789XYZ"`, `"[redacted]"`},                     // escaped twice
		{`?key=sk-ab%2Fcd_0123456789XYZ&x=1`, `?key=[redacted]&x=1`},           // percent-encoded
		{"auth " + b64(key) + " end", "auth [redacted] end"},                   // base64 of the key
		{"attested: sk-ab/cd_0123456789XYZ.", "attested: [redacted]."},         // plain, in a sentence
		{"xsk-ab/cd_0123456789XYZ0", "x[redacted]0"},                           // glued to other text: a key is never word-like
	}
	for _, c := range cases {
		if got := Redact(c.in, key); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// A short secret that is an ordinary word does not mangle longer words.
	if got := Redact("the attested test webhook", "test"); got != "the attested [redacted] webhook" {
		t.Errorf("short secret: %q", got)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func FuzzRedact(f *testing.F) {
	f.Add("key=sk-0123456789abcdef and more", "sk-0123456789abcdef")
	f.Add(`{"k":"a\/b"}`, "a/b")
	f.Fuzz(func(t *testing.T, s, secret string) {
		if len(secret) < 8 || !utf8.ValidString(secret) || !utf8.ValidString(s) {
			return
		}
		_ = Redact(s, secret) // never panics
		if padded := " " + secret + " "; strings.Contains(Redact(padded, secret), secret) {
			t.Fatalf("a whole occurrence survived: %q", Redact(padded, secret))
		}
	})
}

// TestRedactGluedKey: a real key run together with other text (an escape
// sequence's final letter, a word) is still removed; only a word-like
// secret is spared inside longer words (the regression the MCP work found:
// "queued \x1b[31m<key>" printed the key).
func TestRedactGluedKey(t *testing.T) {
	const key = "sk-echo-0123456789"
	for in, want := range map[string]string{
		"queued \x1b[31m" + key:      "queued \x1b[31m" + Redacted,
		"done for" + key + "x":       "done for" + Redacted + "x",
		`{"m":"a` + key + `b"}`:      `{"m":"a` + Redacted + `b"}`,
		"abc" + "0123456789ab" + "z": "abc" + Redacted + "z",
	} {
		if got := Redact(in, key, "0123456789ab"); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	// A word-like secret keeps the longer words that contain it.
	if got := Redact("passwords and password", "password"); got != "passwords and "+Redacted {
		t.Errorf("word-like secret: %q", got)
	}
}
