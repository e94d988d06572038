package preview

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProtocol(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"KITTY_WINDOW_ID": "1", "TERM": "xterm-kitty"}, Kitty},
		{map[string]string{"TERM": "xterm-ghostty"}, Kitty},
		{map[string]string{"TERM_PROGRAM": "iTerm.app"}, ITerm},
		{map[string]string{"TERM_PROGRAM": "WezTerm"}, ITerm},
		{map[string]string{"LC_TERMINAL": "iTerm2"}, ITerm},
		{map[string]string{"TERM": "foot"}, Sixel},
		{map[string]string{"TERM": "xterm-sixel"}, Sixel},
		{map[string]string{"TERM": "mlterm"}, Sixel},
		{map[string]string{"TERM": "xterm-256color"}, ""},
		{map[string]string{}, ""},
		{map[string]string{"TMUX": "/tmp/t,1,0", "KITTY_WINDOW_ID": "1"}, ""},
		{map[string]string{"TERM": "screen-256color", "TERM_PROGRAM": "iTerm.app"}, ""},
	} {
		if got := Protocol(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("%v: %q, want %q", c.env, got, c.want)
		}
	}
}

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

func TestThumbnail(t *testing.T) {
	p := testPNG(t, t.TempDir(), 1000, 600)
	it, err := Thumbnail(ITerm, p, 20)
	if err != nil || !strings.HasPrefix(it, "\x1b]1337;File=inline=1;size=") || !strings.HasSuffix(it, "\a") || !strings.Contains(it, ";width=20;") {
		t.Fatalf("iterm: %v %.60q", err, it)
	}
	k, err := Thumbnail(Kitty, p, 20)
	if err != nil || !strings.HasPrefix(k, "\x1b_Ga=T,f=100,q=2,c=20,") || !strings.HasSuffix(k, "\x1b\\") {
		t.Fatalf("kitty: %v %.60q", err, k)
	}
	for _, chunk := range strings.Split(strings.TrimSuffix(k, "\x1b\\"), "\x1b\\") {
		_, payload, _ := strings.Cut(chunk, ";")
		if len(payload) > 4096 {
			t.Fatalf("a kitty chunk of %d bytes", len(payload))
		}
	}
	s, err := Thumbnail(Sixel, p, 20)
	if err != nil || !strings.HasPrefix(s, "\x1bP0;1;0q\"1;1;200;120") || !strings.HasSuffix(s, "-\x1b\\") {
		t.Fatalf("sixel: %v %.60q", err, s)
	}
	// red (5,0,0 = 180) and blue (0,0,5 = 5), full bands run-length coded
	if !strings.Contains(s, "#5!100?!100~$#180!100~-") {
		t.Fatalf("sixel bands: %.400q", s)
	}
	if _, err := Thumbnail(Kitty, filepath.Join(t.TempDir(), "none.png"), 20); err == nil {
		t.Fatal("no error for a missing file")
	}
	bad := filepath.Join(t.TempDir(), "bad.png")
	os.WriteFile(bad, []byte("not an image"), 0o644)
	if _, err := Thumbnail(Sixel, bad, 20); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Fatalf("undecodable: %v", err)
	}
}

func TestOpener(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if _, _, ok := Opener(getenv, "linux"); ok {
		t.Fatal("an opener with no desktop")
	}
	env["WAYLAND_DISPLAY"] = "wayland-0"
	if name, _, ok := Opener(getenv, "linux"); !ok || name != "xdg-open" {
		t.Fatalf("linux: %q %v", name, ok)
	}
	if name, _, _ := Opener(getenv, "darwin"); name != "open" {
		t.Fatalf("darwin: %q", name)
	}
	if name, args, _ := Opener(getenv, "windows"); name != "rundll32" || len(args) != 1 {
		t.Fatalf("windows: %q %q", name, args)
	}
	env["MLAB_OPENER"] = "feh --scale-down"
	if name, args, ok := Opener(getenv, "linux"); !ok || name != "feh" || len(args) != 1 || args[0] != "--scale-down" {
		t.Fatalf("MLAB_OPENER: %q %q", name, args)
	}
	for v, want := range map[string]bool{"": false, "true": true, "1": true, "false": false, "0": false, "yes": true} {
		if got := InCI(func(string) string { return v }); got != want {
			t.Errorf("CI=%q: %v", v, got)
		}
	}
}
