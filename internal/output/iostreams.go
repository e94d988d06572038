package output

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"golang.org/x/term"
)

// ForceTTYEnv is the environment variable that, when set to a true value
// ("1", "true", "yes", or any other non-empty value except "0", "false"
// and "no"), makes streams from [System] report themselves as terminals.
// It exists so that end-to-end tests can exercise the terminal rendering.
const ForceTTYEnv = "MLAB_FORCE_TTY"

// defaultWidth is the terminal width assumed when it cannot be measured.
const defaultWidth = 80

// tri is a lazily resolved boolean: unknown until detected or set.
type tri uint8

const (
	triUnknown tri = iota
	triFalse
	triTrue
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// IOStreams bundles the process's standard streams with what is known about
// them (terminal or not, colour or not, width).
//
// Terminal facts are detected lazily, the first time they are asked for,
// and can be overridden with the Set methods (tests, --color flags). The
// zero value with In, Out and ErrOut set is usable and detects from the
// writers ([os.File] terminals). All methods are safe for concurrent use.
type IOStreams struct {
	// In is standard input.
	In io.Reader
	// Out is standard output: results only.
	Out io.Writer
	// ErrOut is standard error: everything meant for people.
	ErrOut io.Writer

	mu        sync.Mutex
	stdoutTTY tri
	stderrTTY tri
	color     tri // explicit override only; otherwise derived on each call
	styles    *Styles
	stylesFor bool // the colour state styles was built for

	width func() int // SetTerminalWidth's override; nil: measure
	quiet bool       // SetQuiet: only warnings and errors on ErrOut

	// errMu serialises writes to ErrOut made by this package (printers and
	// the live line), so a redraw never interleaves with a message.
	errMu sync.Mutex
	// live is the live line (guarded by errMu), see live.go.
	live liveState
}

// System returns IOStreams for the real process: os.Stdin, os.Stdout and
// os.Stderr. Nothing is detected here; terminal detection (via
// golang.org/x/term on the file descriptors, or MLAB_FORCE_TTY) happens on
// first use.
func System() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
}

// Test returns IOStreams backed by buffers, with both output streams
// reporting that they are not terminals (so no colour and no progress).
// Flip them with [IOStreams.SetStdoutTTY], [IOStreams.SetStderrTTY] and
// [IOStreams.SetColorEnabled].
func Test() (ios *IOStreams, in *bytes.Buffer, out *bytes.Buffer, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	ios = &IOStreams{In: in, Out: out, ErrOut: errOut, stdoutTTY: triFalse, stderrTTY: triFalse}
	return ios, in, out, errOut
}

// forceTTY reports whether MLAB_FORCE_TTY asks for terminal behaviour.
func forceTTY() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(ForceTTYEnv))) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// fder is implemented by *os.File.
type fder interface{ Fd() uintptr }

// isTerminal reports whether w is a terminal (or MLAB_FORCE_TTY is set).
func isTerminal(w io.Writer) bool {
	if forceTTY() {
		return true
	}
	if f, ok := w.(fder); ok {
		return term.IsTerminal(int(f.Fd()))
	}
	return false
}

// IsStdoutTTY reports whether standard output is a terminal.
func (s *IOStreams) IsStdoutTTY() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stdoutTTY == triUnknown {
		s.stdoutTTY = triOf(isTerminal(s.Out))
	}
	return s.stdoutTTY == triTrue
}

// IsStderrTTY reports whether standard error is a terminal. Progress bars
// and styled output are drawn only when it is.
func (s *IOStreams) IsStderrTTY() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderrTTYLocked()
}

func (s *IOStreams) stderrTTYLocked() bool {
	if s.quiet {
		return false // no live line, no progress
	}
	if s.stderrTTY == triUnknown {
		s.stderrTTY = triOf(isTerminal(s.ErrOut))
	}
	return s.stderrTTY == triTrue
}

// SetStdoutTTY overrides terminal detection for standard output.
func (s *IOStreams) SetStdoutTTY(isTTY bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stdoutTTY = triOf(isTTY)
}

// SetStderrTTY overrides terminal detection for standard error. Unless
// colour was set explicitly, colour then follows the new value (and
// NO_COLOR and TERM).
func (s *IOStreams) SetStderrTTY(isTTY bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stderrTTY = triOf(isTTY)
}

// ColorEnabled reports whether output on standard error may be coloured:
// standard error is a terminal, NO_COLOR is unset or empty, and TERM is not
// "dumb" — unless overridden with [IOStreams.SetColorEnabled].
func (s *IOStreams) ColorEnabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.colorLocked()
}

func (s *IOStreams) colorLocked() bool {
	if s.color != triUnknown {
		return s.color == triTrue
	}
	return s.stderrTTYLocked() && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

// SetColorEnabled overrides colour detection for standard error (for a
// --color=always|never flag, or tests).
func (s *IOStreams) SetColorEnabled(enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.color = triOf(enabled)
}

// TerminalWidth returns the width of standard error in columns: measured
// when it is a terminal, else $COLUMNS when that is a positive number, else
// 80. It is measured again on every call (the window may have been
// resized), so callers should not keep it.
func (s *IOStreams) TerminalWidth() int {
	s.mu.Lock()
	width := s.width
	s.mu.Unlock()
	if width != nil {
		if w := width(); w > 0 {
			return w
		}
	}
	if f, ok := s.ErrOut.(fder); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return defaultWidth
}

// SetTerminalWidth makes [IOStreams.TerminalWidth] report what width
// returns (tests, and a window resized in them); nil measures again.
func (s *IOStreams) SetTerminalWidth(width func() int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.width = width
}

// Styles returns the styles for text written to standard error. When
// colour is off every style renders its input unchanged. The result is
// cached and rebuilt only when the colour state changes; callers should
// not keep it across Set calls.
func (s *IOStreams) Styles() *Styles {
	s.mu.Lock()
	defer s.mu.Unlock()
	color := s.colorLocked()
	if s.styles == nil || s.stylesFor != color {
		s.styles = makeStyles(newRenderer(s.ErrOut, color))
		s.stylesFor = color
	}
	return s.styles
}

// newRenderer returns a lipgloss renderer for w with an explicit colour
// profile, so lipgloss never probes the terminal itself: termenv.Ascii
// (no escape codes at all) when colour is off, termenv.ANSI when it is on.
// Our styles use only the 16 basic ANSI colours, which render identically
// in every richer profile and follow the user's terminal theme.
func newRenderer(w io.Writer, color bool) *lipgloss.Renderer {
	p := termenv.Ascii
	if color {
		p = termenv.ANSI
	}
	r := lipgloss.NewRenderer(w, termenv.WithProfile(p))
	r.SetColorProfile(p)
	// Only AdaptiveColor consults this; setting it avoids any background
	// query should a style ever use one.
	r.SetHasDarkBackground(true)
	return r
}

// writeErr writes one complete human line to ErrOut. A live line drawn
// on a terminal is erased first and drawn again below the message.
func (s *IOStreams) writeErr(line string) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	s.eraseLocked()
	_, _ = io.WriteString(s.ErrOut, line)
	s.drawLocked()
}

// SetQuiet, for -q, leaves standard error to warnings and errors: Infof
// and Successf print nothing, and standard error counts as no terminal
// (no live line, no progress display, no colour).
func (s *IOStreams) SetQuiet(quiet bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quiet = quiet
}

func (s *IOStreams) isQuiet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quiet
}

// Infof writes one line for people to standard error (a newline is added);
// nothing when quiet.
func (s *IOStreams) Infof(format string, a ...any) {
	if s.isQuiet() {
		return
	}
	s.writeErr(fmt.Sprintf(format, a...) + "\n")
}

// Warnf writes a warning line "! ..." to standard error, the mark styled
// when colour is on.
func (s *IOStreams) Warnf(format string, a ...any) {
	st := s.Styles()
	s.writeErr(st.Warn.Render("!") + " " + fmt.Sprintf(format, a...) + "\n")
}

// Successf writes a success line "✓ ..." to standard error, the mark
// styled when colour is on.
func (s *IOStreams) Successf(format string, a ...any) {
	if s.isQuiet() {
		return
	}
	st := s.Styles()
	s.writeErr(st.Success.Render("✓") + " " + fmt.Sprintf(format, a...) + "\n")
}
