package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/cmd"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/cobra"
)

// Commands for the ship_* scripts (config, doctor, man, completion).
func init() {
	scriptCmds["filemode"] = cmdFileMode
	scriptCmds["manpages"] = cmdManPages
}

// filemode PERM FILE asserts FILE's permission bits, e.g. filemode 0600 f.
func cmdFileMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filemode PERM FILE")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	st, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	got := uint64(st.Mode().Perm())
	if neg && got == want {
		ts.Fatalf("%s has mode %04o", args[1], got)
	}
	if !neg && got != want {
		ts.Fatalf("%s has mode %04o, want %04o", args[1], got, want)
	}
}

// manpages DIR checks that DIR holds a man page for every command mlab has
// (walking the real command tree), each with a .TH header naming it and the
// NAME, SYNOPSIS and DESCRIPTION sections. When man(1) is installed it also
// renders every page with `man -l` and fails on any roff warning other than
// line-adjustment ones; without man it says on stdout that it checked the
// roff structure only.
func cmdManPages(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: manpages DIR")
	}
	dir := ts.MkAbs(args[0])
	ios, _, _, _ := output.Test()
	root := cmd.NewRootCmd(cmd.NewFactory(ios, cmd.BuildInfo{Version: "test"}, func(string) string { return "" }))
	var want []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		want = append(want, c.CommandPath())
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() && !s.IsAdditionalHelpTopicCommand() {
				walk(s)
			}
		}
	}
	walk(root)
	if len(want) < 20 {
		ts.Fatalf("only %d commands in the tree: %v", len(want), want)
	}
	manPath, manErr := exec.LookPath("man")
	rendered := 0
	for _, path := range want {
		name := strings.ReplaceAll(path, " ", "-")
		file := filepath.Join(dir, name+".1")
		b, err := os.ReadFile(file)
		if err != nil {
			ts.Fatalf("no man page for %q: %v", path, err)
		}
		roff := string(b)
		th := fmt.Sprintf(`.TH "%s" "1" `, strings.ToUpper(name))
		for _, s := range []string{th, ".SH NAME\n" + name + " - ", ".SH SYNOPSIS", ".SH DESCRIPTION"} {
			if !strings.Contains(roff, s) {
				ts.Fatalf("%s lacks %q", file, s)
			}
		}
		if manErr != nil {
			continue
		}
		c := exec.Command(manPath, "--warnings", "-l", file)
		c.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=80", "LC_ALL=C.UTF-8")
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err != nil {
			ts.Fatalf("man -l %s: %v\n%s", file, err, stderr.String())
		}
		for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if line != "" && !strings.Contains(line, "cannot adjust line") && !strings.Contains(line, "cannot break line") {
				ts.Fatalf("man -l %s warns: %s", file, line)
			}
		}
		if !strings.Contains(stdout.String(), "NAME") || !strings.Contains(stdout.String(), name) {
			ts.Fatalf("man -l %s rendered no NAME section for %s:\n%s", file, name, stdout.String())
		}
		rendered++
	}
	if manErr != nil {
		fmt.Fprintf(ts.Stdout(), "man is not installed: checked the roff structure of %d pages, rendering skipped\n", len(want))
		return
	}
	fmt.Fprintf(ts.Stdout(), "rendered %d pages with man -l\n", rendered)
}

// TestReleaseLdflags builds mlab with the ldflags line of .goreleaser.yaml
// (its template fields filled in as a release would) and checks that
// `mlab --version` prints the injected version, commit and date: the
// release config and main.go's variables agree. .ci/run also makes a real
// goreleaser snapshot build; this test needs only the go command.
func TestReleaseLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	y, err := os.ReadFile(".goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*ldflags:\s*\n\s*-\s*(.+)$`).FindSubmatch(y)
	if m == nil {
		t.Fatal(".goreleaser.yaml has no ldflags list")
	}
	ldflags := strings.NewReplacer(
		"{{ .Version }}", "9.8.7-test",
		"{{ .Commit }}", "0123abc",
		"{{ .CommitDate }}", "2026-01-02T03:04:05Z",
	).Replace(string(m[1]))
	if strings.Contains(ldflags, "{{") {
		t.Fatalf("unexpected template field in ldflags %q", ldflags)
	}
	for _, v := range []string{"main.version=", "main.commit=", "main.date="} {
		if !strings.Contains(ldflags, "-X "+v) {
			t.Fatalf("ldflags %q do not set %s", ldflags, v)
		}
	}
	bin := filepath.Join(t.TempDir(), "mlab")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("mlab --version: %v\n%s", err, out)
	}
	if want := "mlab version 9.8.7-test (commit 0123abc, built 2026-01-02T03:04:05Z)\n"; string(out) != want {
		t.Fatalf("mlab --version = %q, want %q", out, want)
	}
}
