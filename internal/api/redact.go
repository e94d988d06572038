package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Redacted replaces secrets in redacted text.
const Redacted = "[redacted]"

// Redact replaces every whole occurrence of each non-empty secret in s with
// "[redacted]", longer secrets first (so one secret that contains another is
// still removed whole). It also finds the forms a secret takes once some
// layer has encoded it: JSON's \uXXXX escapes and PHP's escaped slash
// ("ab\/cd") character by character, percent-encoding, and the secret's
// own base64 (standard and URL alphabets). A secret that looks like a word
// (letters only, shorter than 20) is replaced only where it is whole, not
// glued to further letters or digits, so that it does not mangle the longer
// words that contain it; any other secret (a real key: digits, dashes) is
// replaced wherever it appears, even run together with other text
// ("\x1b[31m<key>", "for<key>").
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
		s = redactOne(s, sec)
	}
	return s
}

// secretPatterns caches the matcher of each secret: a process redacts the
// same one or two secrets on every line.
var secretPatterns sync.Map // string → *regexp.Regexp

func patternFor(secret string) *regexp.Regexp {
	if re, ok := secretPatterns.Load(secret); ok {
		return re.(*regexp.Regexp)
	}
	var b strings.Builder
	b.WriteString("(?:")
	for _, r := range secret {
		b.WriteString("(?:" + regexp.QuoteMeta(string(r)))
		if r < utf8.RuneSelf {
			fmt.Fprintf(&b, "|\\\\+[uU]00(?i:%02x)|%%(?i:%02x)", r, r)
			if r == '/' {
				b.WriteString(`|\\+/`)
			}
		} else if r <= 0xFFFF {
			fmt.Fprintf(&b, "|\\\\+[uU](?i:%04x)", r)
		}
		b.WriteString(")")
	}
	b.WriteString(")")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		b.WriteString("|" + regexp.QuoteMeta(enc.EncodeToString([]byte(secret))))
	}
	re := regexp.MustCompile(b.String())
	secretPatterns.Store(secret, re)
	return re
}

func redactOne(s, secret string) string {
	if !strings.Contains(s, secret) && !strings.ContainsAny(s, `\%`) && !containsBase64(s, secret) {
		return s // the common case: nothing that could hide it
	}
	locs := patternFor(secret).FindAllStringIndex(s, -1)
	if len(locs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	word := wordLike(secret)
	for _, loc := range locs {
		if word && glued(s, loc[0], loc[1]) {
			continue
		}
		b.WriteString(s[last:loc[0]])
		b.WriteString(Redacted)
		last = loc[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

func containsBase64(s, secret string) bool {
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if strings.Contains(s, enc.EncodeToString([]byte(secret))) {
			return true
		}
	}
	return false
}

// glued reports whether s[i:j] runs on into letters or digits on either
// side, so it is part of a longer word, not the secret itself.
func glued(s string, i, j int) bool {
	if i > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:i])
		if isWordRune(r) && isWordRune(firstRune(s[i:j])) {
			return true
		}
	}
	if j < len(s) {
		r, _ := utf8.DecodeRuneInString(s[j:])
		last, _ := utf8.DecodeLastRuneInString(s[i:j])
		if isWordRune(r) && isWordRune(last) {
			return true
		}
	}
	return false
}

// wordLike reports whether secret could be an ordinary word: letters
// only, and short.
func wordLike(secret string) bool {
	if len(secret) >= 20 {
		return false
	}
	for _, r := range secret {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

func firstRune(s string) rune { r, _ := utf8.DecodeRuneInString(s); return r }

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

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
