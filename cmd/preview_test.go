package cmd

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mlabcli/mlab/internal/output"
)

// testPNG writes a w×h PNG (red left half, blue right half) in dir.
func testPNG(t *testing.T, dir string, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{255, 0, 0, 255}
			if x >= w/2 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	p := filepath.Join(dir, "a.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// --open and --preview through showResult: a seam instead of a viewer.
func TestOpenAndPreview(t *testing.T) {
	dir := t.TempDir()
	img := testPNG(t, dir, 40, 20)
	env := map[string]string{"MLAB_OPENER": "my-viewer --new"}
	ios, _, out, errOut := output.Test()
	f := NewFactory(ios, BuildInfo{Version: "t"}, func(k string) string { return env[k] })
	_, o, _, err := outputCmd(t, f, "--open", "--preview")
	if err != nil {
		t.Fatal(err)
	}
	var launched []string
	o.launch = func(name string, args ...string) error {
		launched = append(launched, name+" "+strings.Join(args, " "))
		return nil
	}
	res := &output.Result{ID: "1", Status: "success", Files: []string{img}, Output: []string{"https://x/1.png"}}

	// a pipe: nothing
	f.showResult(res)
	if len(launched) != 0 || !strings.Contains(errOut.String(), "not a terminal") || strings.Contains(errOut.String(), "\x1b") {
		t.Fatalf("piped: %v %q", launched, errOut)
	}
	// a terminal: the file, in $MLAB_OPENER; a thumbnail
	ios.SetStdoutTTY(true)
	ios.SetStderrTTY(true)
	env["TERM_PROGRAM"] = "iTerm.app"
	errOut.Reset()
	f.showResult(res)
	if len(launched) != 1 || launched[0] != "my-viewer --new "+img {
		t.Fatalf("launched %q", launched)
	}
	if !strings.Contains(errOut.String(), "opened "+img) || !strings.Contains(errOut.String(), "\x1b]1337;File=inline=1") || out.Len() != 0 {
		t.Fatalf("stderr %.200q stdout %q", errOut, out)
	}
	// no files: the URL; CI: never
	launched = nil
	f.showResult(&output.Result{Status: "success", Output: []string{"https://x/1.png", "data:image/png;base64,AAAA"}})
	if len(launched) != 1 || !strings.HasSuffix(launched[0], " https://x/1.png") {
		t.Fatalf("URLs: %q", launched)
	}
	env["CI"] = "true"
	launched = nil
	errOut.Reset()
	f.showResult(res)
	if len(launched) != 0 || !strings.Contains(errOut.String(), "not opening anything in CI") {
		t.Fatalf("CI: %q %q", launched, errOut)
	}
	// no desktop: said so
	delete(env, "CI")
	delete(env, "MLAB_OPENER")
	if runtime.GOOS != "darwin" && runtime.GOOS != "windows" {
		errOut.Reset()
		launched = nil
		f.showResult(res)
		if len(launched) != 0 || !strings.Contains(errOut.String(), "no desktop") {
			t.Fatalf("no DISPLAY: %q %q", launched, errOut)
		}
	}
}
