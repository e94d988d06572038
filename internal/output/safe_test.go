package output

import (
	"strings"
	"testing"
)

func TestSafe(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain id 134701497", "plain id 134701497"},
		{"café ✓ 日本", "café ✓ 日本"},
		{"\x1b[2Jcleared", `\x1b[2Jcleared`},
		{"\x1b]0;owned\x07title", `\x1b]0;owned\x07title`},
		{"\x1b]52;c;ZXZpbA==\x07", `\x1b]52;c;ZXZpbA==\x07`}, // OSC 52 clipboard write
		{"ok\r\nerror: forged", `ok\r\nerror: forged`},
		{"abc\u202edcba", `abc\u202edcba`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"c1\u009bcsi", `c1\u009bcsi`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"tab\there", `tab\there`},
	}
	for _, c := range cases {
		if got := Safe(c.in); got != c.want {
			t.Errorf("Safe(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := SafeLines("{\n  \"a\": \"\x1b[31m\"\n}"); got != "{\n  \"a\": \"\\x1b[31m\"\n}" {
		t.Errorf("SafeLines = %q", got)
	}
}

func FuzzSafe(f *testing.F) {
	for _, s := range []string{"a\x1b[2J", "\u202e", "\xff", "ok\r\n", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Safe(s)
		if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f || unsafeRune(r) }) {
			t.Fatalf("Safe(%q) = %q still has a control or format character", s, got)
		}
		if Safe(got) != got {
			t.Fatalf("Safe is not idempotent on %q", got)
		}
	})
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "500KB": 500e3, "50mb": 50e6, "2GB": 2e9, "64KiB": 64 << 10, "5MiB/s": 5 << 20, "1.5MB": 1.5e6, "0": 0, "7 B": 7} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "-1MB", "lots", "1e30GB", "NaN"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
}
