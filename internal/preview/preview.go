// Package preview shows a job's result to the person at the terminal:
// the command that opens a file or URL in the desktop's viewer, and
// thumbnails drawn inline on terminals that speak an image protocol
// (kitty's graphics, iTerm2's inline images, DEC sixel). It only builds
// commands and escape sequences; cmd decides when (a terminal, not CI)
// and writes them.
package preview

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	_ "image/gif" // decoders for thumbnails
	_ "image/jpeg"
	"image/png"
	"path/filepath"
	"strings"

	"github.com/mlabcli/mlab/internal/output"
)

// MaxImageBytes bounds the image read for a thumbnail.
const MaxImageBytes = 32 << 20

// InCI reports a CI run (the CI variable every CI service sets).
func InCI(getenv func(string) string) bool {
	switch strings.ToLower(strings.TrimSpace(getenv("CI"))) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// Opener is the command that opens a file or URL in the desktop's viewer
// on goos: $MLAB_OPENER (split on spaces), else open (macOS), rundll32
// (Windows) or xdg-open, which needs a desktop (DISPLAY or
// WAYLAND_DISPLAY); false when there is none.
func Opener(getenv func(string) string, goos string) (string, []string, bool) {
	if c := strings.Fields(getenv("MLAB_OPENER")); len(c) > 0 {
		return c[0], c[1:], true
	}
	switch goos {
	case "darwin":
		return "open", nil, true
	case "windows":
		return "rundll32", []string{"url.dll,FileProtocolHandler"}, true
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return "", nil, false
	}
	return "xdg-open", nil, true
}

// Inline image protocols of terminals.
const (
	Kitty = "kitty"
	ITerm = "iterm"
	Sixel = "sixel"
)

// Protocol is the inline image protocol the terminal speaks, from
// its environment ("" when none is known): kitty's graphics (kitty,
// Ghostty, WezTerm), iTerm2's (iTerm2, WezTerm, VS Code's terminal with
// images on), or sixel (foot, mlterm, a TERM naming sixel).
func Protocol(getenv func(string) string) string {
	term, prog := getenv("TERM"), getenv("TERM_PROGRAM")
	switch {
	case getenv("TMUX") != "" || strings.HasPrefix(term, "screen"):
		return "" // a multiplexer does not pass images through
	case getenv("KITTY_WINDOW_ID") != "" || term == "xterm-kitty" || term == "xterm-ghostty" || prog == "ghostty":
		return Kitty
	case prog == "iTerm.app" || prog == "WezTerm" || getenv("LC_TERMINAL") == "iTerm2":
		return ITerm
	case strings.Contains(term, "sixel") || term == "foot" || term == "foot-extra" || strings.HasPrefix(term, "mlterm") || prog == "mlterm":
		return Sixel
	}
	return ""
}

// IsImage says whether a file is an image, by its name.
func IsImage(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".png", ".jpg", ".jpeg", ".gif", ".webp":
		return true
	}
	return false
}

// Thumbnail is the escape sequence that draws the image at path, cols
// cells wide, in the terminal's protocol (Kitty, ITerm or Sixel).
func Thumbnail(proto, path string, cols int) (string, error) {
	data, err := output.ReadBounded(path, MaxImageBytes)
	if err != nil {
		return "", err
	}
	if proto == ITerm {
		// iTerm2 decodes the file itself (any format it knows).
		return fmt.Sprintf("\x1b]1337;File=inline=1;size=%d;width=%d;preserveAspectRatio=1:%s\a",
			len(data), cols, base64.StdEncoding.EncodeToString(data)), nil
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("cannot decode it for a thumbnail: %w", err)
	}
	if proto == Sixel {
		return sixel(shrink(img, cols*10)), nil
	}
	return kittyImage(img, cols)
}

// kittyImage is kitty's graphics protocol: a PNG, base64 in chunks of
// 4096, shown cols cells wide; q=2 keeps the terminal from answering.
func kittyImage(img image.Image, cols int) (string, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, shrink(img, cols*20)); err != nil {
		return "", err
	}
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	var b strings.Builder
	for first := true; first || enc != ""; first = false {
		chunk := enc[:min(4096, len(enc))]
		enc = enc[len(chunk):]
		more := 0
		if enc != "" {
			more = 1
		}
		if first {
			fmt.Fprintf(&b, "\x1b_Ga=T,f=100,q=2,c=%d,m=%d;%s\x1b\\", cols, more, chunk)
		} else {
			fmt.Fprintf(&b, "\x1b_Gm=%d;%s\x1b\\", more, chunk)
		}
	}
	return b.String(), nil
}

// shrink scales img down (nearest pixel) to at most width pixels wide.
func shrink(img image.Image, width int) image.Image {
	b := img.Bounds()
	if b.Dx() <= width || b.Dx() == 0 {
		return img
	}
	height := max(1, b.Dy()*width/b.Dx())
	out := image.NewRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		sy := b.Min.Y + y*b.Dy()/height
		for x := range width {
			out.Set(x, y, img.At(b.Min.X+x*b.Dx()/width, sy))
		}
	}
	return out
}

// sixel encodes img as DEC sixel graphics with a 6×6×6 colour cube.
func sixel(img image.Image) string {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	level := func(c uint32) int { return int((c>>8)*5+127) / 255 } // 0..5
	idx := make([]int, w*h)
	for y := range h {
		for x := range w {
			r, g, bl, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			if a < 0x8000 {
				idx[y*w+x] = -1 // transparent: left as it is
				continue
			}
			idx[y*w+x] = level(r)*36 + level(g)*6 + level(bl)
		}
	}
	var s strings.Builder
	fmt.Fprintf(&s, "\x1bP0;1;0q\"1;1;%d;%d", w, h)
	for i := range 216 {
		fmt.Fprintf(&s, "#%d;2;%d;%d;%d", i, i/36*20, i/6%6*20, i%6*20)
	}
	for top := 0; top < h; top += 6 {
		used := map[int]bool{}
		for y := top; y < min(top+6, h); y++ {
			for x := range w {
				if c := idx[y*w+x]; c >= 0 {
					used[c] = true
				}
			}
		}
		first := true
		for c := range 216 {
			if !used[c] {
				continue
			}
			if !first {
				s.WriteByte('$') // back to the band's start
			}
			first = false
			fmt.Fprintf(&s, "#%d", c)
			run, prev := 0, byte(0)
			flush := func() {
				switch {
				case run == 0:
				case run > 3:
					fmt.Fprintf(&s, "!%d%c", run, prev)
				default:
					s.WriteString(strings.Repeat(string(prev), run))
				}
			}
			for x := range w {
				bits := byte(0)
				for k := range 6 {
					if y := top + k; y < h && idx[y*w+x] == c {
						bits |= 1 << k
					}
				}
				ch := '?' + bits
				if ch != prev || run == 0 {
					flush()
					run, prev = 0, ch
				}
				run++
			}
			if prev != '?' { // a blank run at the end of a row is left out
				flush()
			}
		}
		s.WriteByte('-') // next band
	}
	s.WriteString("\x1b\\")
	return s.String()
}
