package cmd

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestArchitecture holds the shape docs/architecture.md describes: cmd is
// wiring, the engines stay free of the terminal libraries.
func TestArchitecture(t *testing.T) {
	fset := token.NewFileSet()
	cmdFiles, _ := filepath.Glob("*.go")
	for _, name := range cmdFiles {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasSuffix(p, "/internal/listener") || strings.HasSuffix(p, "/internal/tunnel") {
				t.Errorf("%s imports %s: cmd reaches it only through internal/receiver", name, p)
			}
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || strings.HasPrefix(fd.Name.Name, "newCmd") {
				continue // cobra constructors: flags and help text
			}
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > 60 {
				t.Errorf("%s: %s is %d lines; cmd functions stay under 60 (engine logic belongs in internal/)", name, fd.Name.Name, n)
			}
		}
	}

	// cmd is at most 35% of the non-test code outside the sandbox, the
	// fake ngrok ingress and bench/.
	var cmdLines, allLines int
	filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		if d.IsDir() {
			switch rel {
			case ".git", "bench", "tools", "testdata", filepath.Join("internal", "sandbox"), filepath.Join("internal", "tunnel", "ngrokfake"):
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n := bytes.Count(data, []byte("\n"))
		allLines += n
		if filepath.Dir(rel) == "cmd" {
			cmdLines += n
		}
		return nil
	})
	share := float64(cmdLines) / float64(allLines)
	t.Logf("cmd: %d of %d non-test lines (%.1f%%)", cmdLines, allLines, share*100)
	if share > 0.35 {
		t.Errorf("cmd has %d of %d non-test lines (%.0f%%): at most 35%%", cmdLines, allLines, share*100)
	}

	if testing.Short() {
		return
	}
	out, err := exec.Command("go", "list", "-deps", "../internal/runner", "../internal/receiver", "../internal/webhook").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"spf13/cobra", "charmbracelet/lipgloss", "schollz/progressbar", "mlab/internal/output"} {
			if strings.Contains(dep, banned) {
				t.Errorf("an engine package depends on %s", dep)
			}
		}
	}
}
