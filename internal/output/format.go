package output

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The one set of formatting helpers for people: counts, durations, sizes.
// Each has one purpose; pick by what is shown, never write another.

// Plural renders a count with its noun: "1 delivery", "3 deliveries".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Noun picks the singular or plural form without the count.
func Noun(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// FormatDuration formats a wait or run for progress and summary lines:
// "0.4s", "3.2s", "59.9s", then "1m05s", "1h02m03s".
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		// Truncate (not round) so 59.96s never prints as "60.0s".
		return fmt.Sprintf("%.1fs", float64(d.Truncate(100*time.Millisecond))/float64(time.Second))
	}
	d = d.Round(time.Second)
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, sec)
	}
	return fmt.Sprintf("%dm%02ds", m, sec)
}

// FormatSeconds formats an API estimate given in seconds ("eta"): "12.3s",
// or "unknown" when there is none.
func FormatSeconds(s float64) string {
	if s <= 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return "unknown"
	}
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
}

// FormatAgo says how long ago, coarsely, for tables: "just now", "42s ago",
// "5m ago", "3h ago", "12d ago".
func FormatAgo(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

// FormatRunTime formats a finished job's run time for tables: "850ms",
// "12s", "4m05s", "1h04m"; "-" for a negative one.
func FormatRunTime(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// FormatLatency formats a round trip: "0.4ms", "12ms", "1.2s".
func FormatLatency(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// FormatBytes renders a size in decimal units: "412 B", "3.1 KB", "2.0 MB".
func FormatBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// ParseDuration parses a Go duration with an optional leading days part:
// "7d", "1.5d", "1d12h", "36h", "90m", "0s". Negative durations are errors.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		days, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || days < 0 || math.IsNaN(days) || s[0] == '+' || strings.ContainsAny(s[:i], "eExXpP_") {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 7d, 24h, 1d12h)", s)
		}
		if days > 100*365 {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total = time.Duration(days * float64(24*time.Hour))
		rest = s[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil || (total > 0 && strings.HasPrefix(rest, "-")) || (total > 0 && strings.HasPrefix(rest, "+")) {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 7d, 24h, 1d12h)", s)
		}
		total += d
	}
	if total < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return total, nil
}

// ParseBytes parses a size for people: "1024", "500KB", "50MB", "2GB"
// (decimal), "64KiB", "5MiB", "1GiB" (binary); case does not matter and a
// trailing "/s" is allowed (a rate). Negative sizes are errors.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "/S")
	units := []struct {
		suffix string
		mult   float64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v*mult > 1<<62 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 500KB, 50MB, 2GB)", s)
	}
	return int64(v * mult), nil
}
