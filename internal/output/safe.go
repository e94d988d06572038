package output

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Safe makes an untrusted string (a payload field, a request path, API
// text, a recorded body) harmless on a terminal: control characters (ESC,
// CR, LF, BEL, C1 controls), Unicode format characters (bidi overrides,
// zero-width) and invalid UTF-8 are shown as Go-style escapes (\x1b, \r,
// \u202e), so no escape sequence, forged line or reordered text reaches the
// screen. Printable text, including non-ASCII letters, is kept as it is.
// JSON output never needs this: encoding/json escapes control characters.
func Safe(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// SafeLines is Safe for multi-line text shown as lines (a pretty-printed
// body): newlines are kept, everything else is made safe line by line.
func SafeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Safe(l)
	}
	return strings.Join(lines, "\n")
}

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			return !strings.ContainsFunc(s, func(r rune) bool {
				return r < 0x20 || r == 0x7f || unsafeRune(r) || r == utf8.RuneError
			}) && utf8.ValidString(s)
		}
	}
	return true
}

// unsafeRune: C1 controls, line/paragraph separators and format
// characters (Cf: bidi controls, zero-width characters, BOM).
func unsafeRune(r rune) bool {
	return (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r)
}
