package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Redacted replaces secrets in redacted text.
const Redacted = "[redacted]"

// Redact replaces every occurrence of each non-empty secret in s with
// "[redacted]" (longer secrets first, so one secret that contains another
// is still removed whole).
func Redact(s string, secrets ...string) string {
	if len(secrets) == 0 {
		return s
	}
	sorted := make([]string, 0, len(secrets))
	for _, sec := range secrets {
		if sec != "" {
			sorted = append(sorted, sec)
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, sec := range sorted {
		s = strings.ReplaceAll(s, sec, Redacted)
	}
	return s
}

// logExchange writes one debug line for an HTTP exchange.
// A nil payload means the request had no body.
func (c *Client) logExchange(method, target string, payload map[string]any, keyHeader bool, x exchange, dur time.Duration, secrets []string) {
	if c.debug == nil {
		return
	}
	var reqBody []byte
	if payload != nil {
		shown := make(map[string]any, len(payload))
		for k, v := range payload {
			shown[k] = v
		}
		if _, ok := shown["key"]; ok {
			shown["key"] = Redacted
		}
		var err error
		reqBody, err = encodeJSON(shown)
		if err != nil {
			reqBody = []byte(fmt.Sprintf("<%v>", err))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mlab api: %s %s", method, target)
	if keyHeader {
		b.WriteString(" [header key: " + Redacted + "]")
	}
	switch {
	case x.code != 0:
		fmt.Fprintf(&b, " -> %d", x.code)
	default:
		b.WriteString(" -> no response")
	}
	fmt.Fprintf(&b, " (%.1fms)", float64(dur)/float64(time.Millisecond))
	if payload != nil {
		fmt.Fprintf(&b, " request=%s", oneLine(reqBody, secrets))
	} else {
		b.WriteString(" request=(no body)")
	}
	if x.code != 0 {
		fmt.Fprintf(&b, " response=%s", oneLine(x.body, secrets))
	}
	if x.err != nil {
		fmt.Fprintf(&b, " error=%q", x.err.Error())
	}
	line := Redact(b.String(), secrets...) + "\n"
	c.debugMu.Lock()
	defer c.debugMu.Unlock()
	_, _ = io.WriteString(c.debug, line)
}

// oneLine renders a body on a single line: compact JSON when it is JSON,
// else a quoted string. Secrets are redacted before long bodies are
// shortened, so a cut can never leave part of a secret behind.
func oneLine(body []byte, secrets []string) string {
	var s string
	if json.Valid(body) {
		var buf bytes.Buffer
		if json.Compact(&buf, body) == nil {
			s = buf.String()
		}
	}
	if s == "" {
		s = strconv.Quote(string(body))
	}
	s = Redact(s, secrets...)
	if len(s) > maxDebugBytes {
		cut := maxDebugBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + fmt.Sprintf("…(%d bytes)", len(body))
	}
	return s
}
