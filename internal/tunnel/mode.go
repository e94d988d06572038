package tunnel

import (
	"fmt"
	"strings"
)

// Mode selects how the webhook receiver is exposed.
type Mode string

// The modes understood by [Open] and [ParseMode].
const (
	// ModeAuto resolves to ModeURL when Options.PublicURL is set, to
	// ModeNgrok when Options.Authtoken is set (falling back to ModeNone if
	// the tunnel fails), and to ModeNone otherwise.
	ModeAuto Mode = "auto"
	// ModeNgrok opens an embedded ngrok tunnel. It needs an authtoken.
	ModeNgrok Mode = "ngrok"
	// ModeLocal listens on a local address and advertises that address.
	ModeLocal Mode = "local"
	// ModeURL listens on a local address and advertises Options.PublicURL.
	ModeURL Mode = "url"
	// ModeNone opens no listener: results are polled.
	ModeNone Mode = "none"
)

// Modes lists every valid mode in the order they are documented.
var Modes = []Mode{ModeAuto, ModeNgrok, ModeLocal, ModeURL, ModeNone}

// String returns the mode's name.
func (m Mode) String() string { return string(m) }

// ParseMode parses a mode name case-insensitively, ignoring surrounding
// space. The empty string means ModeAuto. An unknown name is an error that
// lists the valid values.
func ParseMode(s string) (Mode, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "" {
		return ModeAuto, nil
	}
	for _, m := range Modes {
		if v == string(m) {
			return m, nil
		}
	}
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = string(m)
	}
	return "", fmt.Errorf("invalid tunnel mode %q: use one of %s", s, strings.Join(names, ", "))
}
