package output

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/journal"
)

// historyEntries are three journal entries submitted before now: a video
// still processing, an image job with two files, a failed one with an
// undownloaded output.
func historyEntries(now time.Time) []journal.Entry {
	return []journal.Entry{
		{ID: "300", TrackID: "t300", Kind: "video", Endpoint: "text2video", Status: journal.StatusProcessing,
			SubmittedAt: now.Add(-time.Hour)},
		{ID: "200", TrackID: "t200", Kind: "img", Endpoint: "text2img", Status: journal.StatusSuccess, Via: "webhook",
			Files: []string{"out/a.png", "out/b.png"}, SubmittedAt: now.Add(-3 * time.Hour),
			FinishedAt: now.Add(-3*time.Hour + 12500*time.Millisecond)},
		{ID: "100", Kind: "img", Endpoint: "img", Status: journal.StatusFailed, Via: "poll",
			Output: []string{"https://x/a.png"}, SubmittedAt: now.Add(-50 * time.Hour),
			FinishedAt: now.Add(-50*time.Hour + 3*time.Second)},
	}
}

// TestWriteHistory renders the same entries as the table for people and as
// the tab-separated lines for scripts.
func TestWriteHistory(t *testing.T) {
	// Not UTC: the lines print UTC, the table ages are zone-independent.
	now := time.Date(2025, 5, 1, 12, 0, 0, 0, time.FixedZone("X", 3600))
	ios, _, _, _ := Test()
	var table, lines bytes.Buffer
	if err := WriteHistoryTable(&table, ios.Styles(), historyEntries(now), now); err != nil {
		t.Fatal(err)
	}
	entries := historyEntries(now)
	entries[2].ID, entries[2].Message = "1\t00\r\n", "not printed"
	for _, e := range entries {
		if err := WriteHistoryLine(&lines, &e); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ name, got, want string }{
		{"table", table.String(), "" +
			"ID   KIND              STATUS      SUBMITTED  DURATION  VIA      FILES\n" +
			"300  video/text2video  processing  1h ago     -         -        -\n" +
			"200  img/text2img      success     3h ago     13s       webhook  out/a.png (+1)\n" +
			"100  img               failed      2d ago     3s        poll     1 output, not downloaded\n"},
		{"lines", lines.String(), "" +
			"300\tt300\tvideo\ttext2video\tprocessing\t2025-05-01T10:00:00Z\t-\t-\t-\n" +
			"200\tt200\timg\ttext2img\tsuccess\t2025-05-01T08:00:00Z\t12.5\twebhook\tout/a.png,out/b.png\n" +
			"1 00  \t-\timg\timg\tfailed\t2025-04-29T09:00:00Z\t3\tpoll\t-\n"},
	} {
		if c.got != c.want {
			t.Errorf("%s:\n%q\nwant:\n%q", c.name, c.got, c.want)
		}
	}
}

func TestWriteHistoryTableColourKeepsAlignment(t *testing.T) {
	now := time.Now()
	ios, _, _, _ := Test()
	ios.SetStderrTTY(true)
	ios.SetColorEnabled(true)
	var buf bytes.Buffer
	if err := WriteHistoryTable(&buf, ios.Styles(), historyEntries(now)[:2], now); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if !strings.Contains(s, "\x1b[32msuccess") || !strings.Contains(s, "\x1b[33mprocessing") {
		t.Fatalf("statuses not styled:\n%q", s)
	}
	// Padding is measured on the text, not on its escape codes: with the
	// codes removed the table is the plain one.
	plain := regexpEscapes.ReplaceAllString(s, "")
	if !strings.HasPrefix(plain, "ID   KIND              STATUS      SUBMITTED  DURATION  VIA      FILES\n300  video/text2video  processing  ") {
		t.Fatalf("misaligned:\n%s", plain)
	}
}

var regexpEscapes = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestWriteTableEmptyAndRagged(t *testing.T) {
	ios, _, _, _ := Test()
	var buf bytes.Buffer
	if err := WriteTable(&buf, ios.Styles(), []string{"A", "BB"}, nil); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "A  BB\n" {
		t.Fatalf("header only: %q", buf.String())
	}
	buf.Reset()
	rows := [][]Cell{{{Text: "wide cell"}, {Text: "x"}}, {{Text: "é"}, {Text: ""}}}
	if err := WriteTable(&buf, ios.Styles(), []string{"A", "B"}, rows); err != nil {
		t.Fatal(err)
	}
	if want := "A          B\nwide cell  x\né          \n"; buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}

// The history table's formats, moved here with the helpers they test.

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "24h": 24 * time.Hour, "90m": 90 * time.Minute, "1d12h": 36 * time.Hour,
		"1.5d": 36 * time.Hour, "0s": 0, "0d": 0, " 2d ": 48 * time.Hour, "1d30m": 24*time.Hour + 30*time.Minute,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%q = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "7", "x7d", "-1d", "+1d", "1d-2h", "1e3d", "7dd", "3 days", "-5m"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("%q = %v, want an error", in, got)
		}
	}
}

func TestHistoryFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "just now", 42 * time.Second: "42s ago", 5 * time.Minute: "5m ago", 3 * time.Hour: "3h ago",
		47 * time.Hour: "47h ago", 50 * time.Hour: "2d ago", 12 * 24 * time.Hour: "12d ago",
	} {
		if got := FormatAgo(d); got != want {
			t.Errorf("FormatAgo(%v) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond: "850ms", 12500 * time.Millisecond: "13s", 245 * time.Second: "4m05s",
		64 * time.Minute: "1h04m", -time.Second: "-",
	} {
		if got := FormatRunTime(d); got != want {
			t.Errorf("FormatRunTime(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestHistoryIsTerminalSafe: a journalled id or file name carrying escape
// sequences reaches the terminal as visible escapes (issue 13).
func TestHistoryIsTerminalSafe(t *testing.T) {
	e := journal.Entry{ID: "1\x1b[2J", TrackID: "t\x1b]52;c;ZXZpbA==\x07", Kind: "img", Endpoint: "text2img", Status: "success",
		SubmittedAt: time.Now(), Files: []string{"out/a\u202egnp.exe"}}
	var table, line strings.Builder
	ios, _, _, _ := Test()
	if err := WriteHistoryTable(&table, ios.Styles(), []journal.Entry{e}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := WriteHistoryLine(&line, &e); err != nil {
		t.Fatal(err)
	}
	for _, got := range []string{table.String(), line.String()} {
		if strings.ContainsAny(got, "\x1b\x07\u202e") {
			t.Fatalf("raw control characters reached the output: %q", got)
		}
		if !strings.Contains(got, `\x1b`) {
			t.Fatalf("escapes not shown: %q", got)
		}
	}
}
