package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"wait", "wait", 0}, {"wiat", "wait", 1}, {"wat", "wait", 1}, {"waitt", "wait", 1}, {"kitten", "sitting", 3}, {"", "abc", 3}} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestClosest(t *testing.T) {
	choices := []string{"wait", "timeout", "webhook", "tunnel"}
	for v, want := range map[string]string{"wiat": "wait", "WAIT": "wait", "time": "timeout", "tunnell": "tunnel", "xyz": "", "": ""} {
		if got := Closest(v, choices); got != want {
			t.Errorf("Closest(%q) = %q, want %q", v, got, want)
		}
	}
}
