package output

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// colorEnv puts the colour-related environment in a known state.
func colorEnv(t *testing.T, noColor, term string) {
	t.Helper()
	t.Setenv("NO_COLOR", noColor)
	t.Setenv("TERM", term)
	t.Setenv("CLICOLOR_FORCE", "")
	t.Setenv(ForceTTYEnv, "")
}

// writeAll exercises every styled writer of the package.
func writeAll(ios *IOStreams) {
	ios.Infof("info %d", 1)
	ios.Warnf("warn %s", "x")
	ios.Successf("done")
	PrintError(ios, os.ErrNotExist, "a hint", 4, false)
	_ = PrintResult(ios, &Result{ID: "1", Status: "success", ElapsedMS: 1000, Via: "poll", Output: []string{"https://x/y.png"}}, false)
}

func TestTestStreamsAreNotTTYs(t *testing.T) {
	colorEnv(t, "", "xterm-256color")
	ios, _, _, _ := Test()
	if ios.IsStdoutTTY() || ios.IsStderrTTY() || ios.ColorEnabled() {
		t.Fatal("Test() streams must start as non-TTY without colour")
	}
}

func TestColorFollowsStderrTTYLazily(t *testing.T) {
	colorEnv(t, "", "xterm-256color")
	ios, _, out, errOut := Test()
	ios.SetStderrTTY(true)
	if !ios.ColorEnabled() {
		t.Fatal("colour should follow a terminal stderr when NO_COLOR is unset")
	}
	writeAll(ios)
	if !strings.Contains(errOut.String(), "\x1b[") {
		t.Errorf("no escape codes on a colour terminal: %q", errOut)
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Errorf("escape codes on stdout: %q", out)
	}
}

func TestNoColorDisablesColourOnTTY(t *testing.T) {
	for _, tc := range []struct{ name, noColor, term string }{
		{"NO_COLOR=1", "1", "xterm-256color"},
		{"NO_COLOR=false", "false", "xterm-256color"}, // any non-empty value
		{"TERM=dumb", "", "dumb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			colorEnv(t, tc.noColor, tc.term)
			ios, _, out, errOut := Test()
			ios.SetStderrTTY(true)
			ios.SetStdoutTTY(true)
			if ios.ColorEnabled() {
				t.Error("ColorEnabled() = true")
			}
			writeAll(ios)
			if strings.Contains(errOut.String()+out.String(), "\x1b") {
				t.Errorf("escape codes with %s: %q", tc.name, errOut)
			}
			if !strings.Contains(errOut.String(), "✓ success") {
				t.Errorf("summary missing: %q", errOut)
			}
		})
	}
}

func TestSetColorEnabledOverrides(t *testing.T) {
	colorEnv(t, "1", "xterm")
	ios, _, _, errOut := Test()
	ios.SetColorEnabled(true) // like --color=always
	ios.Warnf("x")
	if !strings.Contains(errOut.String(), "\x1b[33m!") {
		t.Errorf("got %q", errOut)
	}
	errOut.Reset()
	ios.SetColorEnabled(false) // styles are rebuilt
	ios.Warnf("x")
	if got := errOut.String(); got != "! x\n" {
		t.Errorf("got %q", got)
	}
}

func TestPlainWriters(t *testing.T) {
	ios, _, out, errOut := Test()
	ios.Infof("submitted id=%s", "42")
	ios.Warnf("no tunnel, polling")
	ios.Successf("saved %d files", 2)
	want := "submitted id=42\n! no tunnel, polling\n✓ saved 2 files\n"
	if errOut.String() != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q", out)
	}
}

func TestForceTTYEnv(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	colorEnv(t, "", "xterm")

	ios := &IOStreams{Out: f, ErrOut: f}
	if ios.IsStderrTTY() || ios.IsStdoutTTY() {
		t.Fatal("a regular file is not a terminal")
	}

	t.Setenv(ForceTTYEnv, "1")
	ios = &IOStreams{Out: f, ErrOut: f}
	if !ios.IsStderrTTY() || !ios.IsStdoutTTY() || !ios.ColorEnabled() {
		t.Fatal("MLAB_FORCE_TTY=1 should force terminal behaviour")
	}

	t.Setenv(ForceTTYEnv, "0")
	ios = &IOStreams{Out: f, ErrOut: f}
	if ios.IsStderrTTY() {
		t.Fatal("MLAB_FORCE_TTY=0 should not force")
	}
}

func TestSystemDetectsLazily(t *testing.T) {
	ios := System()
	if ios.stdoutTTY != triUnknown || ios.stderrTTY != triUnknown || ios.styles != nil {
		t.Fatal("System() must not detect anything up front")
	}
	_ = ios.IsStderrTTY()
	if ios.stderrTTY == triUnknown {
		t.Fatal("IsStderrTTY did not cache its answer")
	}
}

func TestTerminalWidth(t *testing.T) {
	ios, _, _, _ := Test()
	t.Setenv("COLUMNS", "")
	if w := ios.TerminalWidth(); w != 80 {
		t.Errorf("width = %d, want 80", w)
	}
	t.Setenv("COLUMNS", "132")
	if w := ios.TerminalWidth(); w != 132 {
		t.Errorf("width = %d, want 132", w)
	}
}
