package tunnel

import (
	"strings"
	"testing"
)

func TestParseMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"", ModeAuto, false},
		{"auto", ModeAuto, false},
		{"AUTO", ModeAuto, false},
		{" Ngrok ", ModeNgrok, false},
		{"local", ModeLocal, false},
		{"url", ModeURL, false},
		{"None", ModeNone, false},
		{"off", "", true},
		{"ngrok2", "", true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseMode(%q) = %q, want an error", tt.in, got)
				continue
			}
			for _, m := range Modes {
				if !strings.Contains(err.Error(), string(m)) {
					t.Errorf("ParseMode(%q) error %q does not list %q", tt.in, err, m)
				}
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
