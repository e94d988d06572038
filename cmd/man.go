package cmd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// ManOptions are the flags of `mlab man`.
type ManOptions struct {
	f       *Factory
	Dir     string   // --dir: write one page per command there
	Command []string // the command whose page to print (default: mlab itself)
}

func newCmdMan(f *Factory) *cobra.Command {
	o := &ManOptions{f: f}
	cmd := &cobra.Command{
		Use:   "man [COMMAND...] [--dir DIR]",
		Short: "Print or write man pages for mlab and every command",
		Long: `Generate roff man pages (section 1) from mlab's own help, with cobra's doc
generator. Without --dir, print the page for mlab, or for the command named
by the arguments, on stdout. With --dir, write one page per command into DIR
(mlab.1, mlab-img.1, mlab-config-set.1, ...) and print their paths.

The pages' date is the build date (or SOURCE_DATE_EPOCH), so they are
reproducible. The release archives and packages ship them already.`,
		Example: `  $ mlab man | man -l -                 # read mlab(1) now
  $ mlab man img | man -l -             # the page for mlab img
  $ mlab man --dir ~/.local/share/man/man1 && man mlab-img`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Command = args
			return runMan(cmd.Root(), o)
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "write a page per command into `DIR` (created if missing)")
	return cmd
}

// manHeader is the .TH line's content. The date comes from the build (or
// SOURCE_DATE_EPOCH, which cobra reads when Date is nil).
func manHeader(f *Factory) *doc.GenManHeader {
	h := &doc.GenManHeader{
		Section: "1",
		Source:  "mlab " + f.Build.Version,
		Manual:  "mlab manual",
	}
	if f.Getenv("SOURCE_DATE_EPOCH") == "" {
		if t, err := time.Parse(time.RFC3339, f.Build.Date); err == nil {
			h.Date = &t
		}
	}
	return h
}

func runMan(root *cobra.Command, o *ManOptions) error {
	root.DisableAutoGenTag = true // no "Auto generated ... <today>" line: reproducible pages
	if o.Dir != "" {
		if len(o.Command) > 0 {
			return flagErrorf("give either a command or --dir, not both")
		}
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return &ConfigError{Msg: fmt.Sprintf("man: %v", err), Hint: "choose a directory you can write to"}
		}
		if err := doc.GenManTree(root, manHeader(o.f), o.Dir); err != nil {
			return fmt.Errorf("man: %w", err)
		}
		pages, err := filepath.Glob(filepath.Join(o.Dir, "mlab*.1"))
		if err != nil {
			return err
		}
		sort.Strings(pages)
		for _, p := range pages {
			if err := tablesInPage(p); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			fmt.Fprintln(o.f.IO.Out, p)
		}
		o.f.IO.Infof("wrote %d man pages into %s", len(pages), o.Dir)
		return nil
	}
	target := root
	if len(o.Command) > 0 {
		c, rest, err := root.Find(o.Command)
		if err != nil || len(rest) > 0 || c == root {
			return flagErrorf("man: no command %q (see 'mlab --help')", strings.Join(o.Command, " "))
		}
		target = c
	}
	var buf bytes.Buffer
	if err := doc.GenMan(target, manHeader(o.f), &buf); err != nil {
		return fmt.Errorf("man: %w", err)
	}
	_, err := o.f.IO.Out.Write(manTables(buf.Bytes()))
	return err
}

func tablesInPage(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, manTables(b), 0o644)
}

// exitRow is a row of an "Exit status:" table in help text: "  CODE  text";
// its continuation lines are indented further.
var exitRow = regexp.MustCompile(`^  (\d+) +(.*)$`)

// manTables keeps the "Exit status:" tables of the help as tables in
// roff, which would fill their rows into one paragraph: one tagged
// paragraph (.TP) per code.
func manTables(roff []byte) []byte {
	lines := strings.Split(string(roff), "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		out = append(out, lines[i])
		if lines[i] != "Exit status:" {
			continue
		}
		out = append(out, ".PD 0") // no blank line between the rows
		for i+1 < len(lines) {
			next := lines[i+1]
			if m := exitRow.FindStringSubmatch(next); m != nil {
				out = append(out, ".TP", ".B "+m[1], m[2])
			} else if strings.HasPrefix(next, "   ") && len(out) > 0 && strings.TrimSpace(next) != "" {
				out = append(out, strings.TrimSpace(next))
			} else {
				break
			}
			i++
		}
		out = append(out, ".PD")
	}
	return []byte(strings.Join(out, "\n"))
}
