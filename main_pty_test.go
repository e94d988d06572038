//go:build unix

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// TestLiveDisplayTerminal drives the real binary on a real terminal — a
// pty (with a small re-wrapping terminal emulator, below) and tmux 3 —
// during `mlab img x --wait -o DIR` against a sandbox whose jobs take
// longer than their eta and whose output file downloads slowly, at 60, 80
// and 160 columns, across resizes, and through Ctrl-C. From the stream and
// the screen it asserts: no frame of the live line wider than the
// terminal minus one, no progress line left on the screen or duplicated
// (after carriage returns and erase sequences are applied, and after the
// terminal re-wrapped its lines on a resize), the bar's percentage never
// going back and turning "overdue" past the eta, and one live line at a
// time (no wait frame once the download's line began).
//
// Bounds are generous (the jobs take seconds, the run up to a minute);
// nothing is timed tighter than that.
func TestLiveDisplayTerminal(t *testing.T) {
	bin, err := exec.LookPath("mlab")
	if err != nil {
		t.Skipf("no mlab binary in PATH: %v", err)
	}
	_, tmuxErr := exec.LookPath("tmux")
	ptyOK := true
	if p, tt, err := pty.Open(); err != nil {
		ptyOK = false
	} else {
		p.Close()
		tt.Close()
	}
	if tmuxErr != nil && !ptyOK {
		t.Skip("neither tmux nor a pty is available")
	}
	scenarios := []scenario{
		{name: "60cols", width: 60},
		{name: "80cols_nocolor", width: 80, noColor: true},
		{name: "160cols", width: 160},
		{name: "resize", width: 160, resizes: []resize{
			{when: isBarFrame, width: 60},       // shrink under a long bar
			{when: isOverdueFrame, width: 120},  // grow
			{when: isDownloadFrame, width: 45}}, // shrink under the download's line
		},
		{name: "interrupt", width: 80, interrupt: isOverdueFrame},
	}
	for _, backend := range []string{"pty", "tmux"} {
		t.Run(backend, func(t *testing.T) {
			switch {
			case backend == "pty" && !ptyOK:
				t.Skip("no pty")
			case backend == "tmux" && tmuxErr != nil:
				t.Skip("no tmux")
			}
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					runScenario(t, backend, bin, sc)
				})
			}
		})
	}
}

type scenario struct {
	name      string
	width     int
	noColor   bool
	resizes   []resize
	interrupt func(frame string) bool // send Ctrl-C at the first such frame
}

// resize changes the terminal's width at the first frame for which when
// is true (after the previous resize).
type resize struct {
	when  func(frame string) bool
	width int
}

const ptyRows = 40

func runScenario(t *testing.T, backend, bin string, sc scenario) {
	sb := sandbox.New(sandbox.Options{
		Delay: 9 * time.Second, ETA: 4 * time.Second, // overdue for 5s
		FileSize: 20 << 20, FileRate: 5 << 20, // a 4s download
	})
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TERM=xterm-256color",
		"MLAB_CONFIG_DIR=" + dir + "/config", "MLAB_STATE_DIR=" + dir + "/state", "MLAB_CACHE_DIR=" + dir + "/cache",
		"MODELSLAB_BASE_URL=" + base, "MODELSLAB_API_KEY=sandbox-test-key-0123456789abcdef",
		"GORACE=atexit_sleep_ms=10",
	}
	if sc.noColor {
		env = append(env, "NO_COLOR=1")
	}
	args := []string{bin, "img", "a blue whale", "--wait", "--tunnel", "local", "-o", filepath.Join(dir, "out")}

	var term terminal
	switch backend {
	case "pty":
		term, err = startPTY(args, env, sc.width)
	default:
		term, err = startTmux(t, args, env, sc.width, dir)
	}
	if err != nil {
		t.Fatalf("start %s: %v", backend, err)
	}
	defer term.close()

	// Drive the scenario from the frames as they are drawn.
	deadline := time.Now().Add(90 * time.Second)
	next, interrupted := 0, false
	for !term.exited() {
		if time.Now().After(deadline) {
			t.Fatalf("mlab still running after 90s; stream so far:\n%q", term.raw())
		}
		fs := parseFrames(term.raw())
		if next < len(sc.resizes) && anyFrame(fs.after(term.lastResizeAt()), sc.resizes[next].when) {
			term.resize(sc.resizes[next].width)
			next++
		}
		if sc.interrupt != nil && !interrupted && anyFrame(fs, sc.interrupt) {
			term.interrupt()
			interrupted = true
		}
		term.sample(t)
		time.Sleep(100 * time.Millisecond)
	}
	if next < len(sc.resizes) {
		t.Errorf("only %d of %d resizes happened", next, len(sc.resizes))
	}
	raw := term.raw()
	if backend == "tmux" {
		settled(func() int { return len(term.raw()) }) // the pipe from the pane may lag
		raw = term.raw()
	}
	fs := parseFrames(raw)
	checkFrames(t, fs, term.widths(), sc.interrupt == nil)
	if sc.noColor && bytes.Contains(raw, []byte("\x1b[3")) {
		t.Errorf("colour with NO_COLOR: %q", raw)
	}

	// The screen at the end: only the lines people should read are left.
	lines := term.finalLines(t)
	want := []*regexp.Regexp{
		regexp.MustCompile(`^submitted text2img job \d+ \(eta 4s\); waiting for its webhook`),
		regexp.MustCompile(`^` + regexp.QuoteMeta(dir) + `/out/\d+-0\.png$`),
		regexp.MustCompile(`^✓ success in [0-9.hms]+ via (webhook|poll|links) · id \d+ · 1 file$`),
	}
	if sc.interrupt != nil {
		want = []*regexp.Regexp{want[0],
			regexp.MustCompile(`^\d+$`), // the id, on stdout
			regexp.MustCompile(`^error: interrupted while waiting for job \d+`),
			regexp.MustCompile(`^hint: `),
		}
	}
	var got []string
	for _, l := range lines {
		l = strings.TrimRight(l, " ")
		if l == "" || strings.HasPrefix(l, "Pane is dead") {
			continue
		}
		got = append(got, l)
	}
	if len(got) != len(want) {
		t.Fatalf("the screen at the end has %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, re := range want {
		if !re.MatchString(got[i]) {
			t.Errorf("line %d of the screen = %q, want %s", i+1, got[i], re)
		}
	}
}

// frame is one drawing of the live line: its text (escape sequences
// removed), the width of the terminal at the time (see terminal.widths)
// is known from off, its offset in the stream.
type frame struct {
	text string
	off  int
}

type frames []frame

func (fs frames) after(off int) frames {
	for i, f := range fs {
		if f.off > off {
			return fs[i:]
		}
	}
	return nil
}

func anyFrame(fs frames, fn func(string) bool) bool {
	for _, f := range fs {
		if fn(f.text) {
			return true
		}
	}
	return false
}

var (
	sgrRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	pctRE = regexp.MustCompile(`(\d+)%`)
)

var eraseRE = regexp.MustCompile(`\x1b\[0?K`)

// parseFrames finds the live line's frames: each is drawn as "\r", its
// text, then "\x1b[K" (erase to the end of the line).
func parseFrames(raw []byte) frames {
	var fs frames
	s := string(raw)
	for _, m := range eraseRE.FindAllStringIndex(s, -1) {
		start := strings.LastIndexAny(s[:m[0]], "\r\n")
		if start >= 0 && s[start] == '\r' {
			fs = append(fs, frame{text: sgrRE.ReplaceAllString(s[start+1:m[0]], ""), off: start})
		}
	}
	return fs
}

// Frames of the live line are the wait's unless they are the download's.
func isWaitFrame(f string) bool     { return f != "" && !isDownloadFrame(f) }
func isBarFrame(f string) bool      { return isWaitFrame(f) && strings.ContainsAny(f, "█░") }
func isOverdueFrame(f string) bool  { return isWaitFrame(f) && strings.Contains(f, "overdue") }
func isDownloadFrame(f string) bool { return strings.HasPrefix(f, "downloading") }

// looksLive says a line on the screen is (part of) a frame of the live
// line: a spinner, a bar, a percentage, a wait's times, "overdue".
func looksLive(l string) bool {
	return startsWithSpinner(l) || isDownloadFrame(l) || strings.ContainsAny(l, "█░") ||
		pctRE.MatchString(l) || strings.Contains(l, " / ~") || strings.Contains(l, "overdue")
}

func startsWithSpinner(f string) bool {
	for _, r := range f {
		return r >= 0x2800 && r <= 0x28ff // braille: the spinner
	}
	return false
}

// checkFrames asserts what the stream shows: frames that fit the width
// they were drawn at, a percentage that never goes back and turns into
// "overdue", and no wait frame once the download's line began.
func checkFrames(t *testing.T, fs frames, widths []widthAt, download bool) {
	t.Helper()
	if len(fs) < 5 {
		t.Fatalf("only %d frames drawn", len(fs))
	}
	for i, f := range fs {
		w, stale := widthOf(widths, f.off)
		n := len([]rune(f.text))
		if n > w-1 && !(stale > 0 && n <= stale-1 && firstFitAfter(fs[i:], w) >= 0) {
			t.Errorf("frame of %d columns at width %d: %q", n, w, f.text)
		}
	}
	last, overdue, downloading := -1, false, false
	for _, f := range fs {
		switch {
		case isDownloadFrame(f.text):
			downloading = true
		case isWaitFrame(f.text):
			if downloading {
				t.Errorf("a wait frame after the download's line began: %q", f.text)
			}
			if strings.Contains(f.text, "overdue") {
				overdue = true
				if pctRE.MatchString(f.text) {
					t.Errorf("an overdue frame with a percentage: %q", f.text)
				}
				continue
			}
			if overdue {
				t.Errorf("the bar came back after overdue: %q", f.text)
			}
			if m := pctRE.FindStringSubmatch(f.text); m != nil {
				n, _ := strconv.Atoi(m[1])
				if n < last {
					t.Errorf("the percentage went back from %d to %d: %q", last, n, f.text)
				}
				last = n
			}
		}
	}
	if !overdue {
		t.Error("never overdue, although the job took longer than its eta")
	}
	if download && !downloading {
		t.Error("no download line")
	}
}

// firstFitAfter is the index of the first frame that fits width w, or -1.
func firstFitAfter(fs frames, w int) int {
	for i, f := range fs {
		if len([]rune(f.text)) <= w-1 {
			return i
		}
	}
	return -1
}

// widthAt says that from stream offset off on the terminal was width wide.
type widthAt struct{ off, width int }

// widthOf is the width at stream offset off and, for a frame that may have
// been drawn just before a resize the stream had not shown yet, the width
// before it (else 0): such a stale frame may be as wide as the old width
// allows, as long as a frame that fits comes after it.
func widthOf(ws []widthAt, off int) (w, stale int) {
	for i, x := range ws {
		if x.off <= off {
			w = x.width
			if i > 0 {
				stale = ws[i-1].width
			}
		}
	}
	return w, stale
}

// terminal is a running mlab on a terminal.
type terminal interface {
	raw() []byte                      // what mlab wrote so far
	exited() bool                     // mlab has exited (and its output is all in raw)
	resize(width int)                 // change the width (mlab gets SIGWINCH)
	lastResizeAt() int                // the stream offset of the last resize (-1 before any)
	widths() []widthAt                // every width and the offset it began at
	interrupt()                       // Ctrl-C
	sample(t *testing.T)              // check the screen now (one live line at most)
	finalLines(t *testing.T) []string // the screen's lines at the end (logical, unwrapped)
	close()
}

// ptyTerm runs mlab on a pty; its screen is the emulator's.
type ptyTerm struct {
	cmd  *exec.Cmd
	ptmx *os.File
	done chan struct{}

	mu    sync.Mutex
	buf   bytes.Buffer
	ws    []widthAt
	vt    *vt
	fed   int // bytes of buf fed to vt
	vtErr string
}

func startPTY(args, env []string, width int) (*ptyTerm, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(width), Rows: ptyRows})
	if err != nil {
		return nil, err
	}
	p := &ptyTerm{cmd: cmd, ptmx: ptmx, done: make(chan struct{}), ws: []widthAt{{0, width}}, vt: newVT(width)}
	go func() {
		defer close(p.done)
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				_ = cmd.Wait()
				return
			}
		}
	}()
	return p, nil
}

func (p *ptyTerm) raw() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.buf.Bytes())
}

func (p *ptyTerm) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// resize changes the pty's width with mlab stopped, once everything it
// wrote is read: the emulator re-wraps at the exact point of the stream
// where the terminal changed, as a terminal on a desk does (a frame mlab
// measured before and wrote after would be a race of microseconds, not of
// a test's reads).
func (p *ptyTerm) resize(width int) {
	paused(p.cmd.Process.Pid, func() bool { return p.drained() }, func() {
		p.mu.Lock()
		p.ws = append(p.ws, widthAt{p.buf.Len(), width})
		p.mu.Unlock()
		_ = pty.Setsize(p.ptmx, &pty.Winsize{Cols: uint16(width), Rows: ptyRows})
	})
}

// drained waits until nothing more arrives for a while (mlab is stopped).
func (p *ptyTerm) drained() bool {
	return settled(func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.buf.Len()
	})
}

// paused runs fn with process pid stopped (SIGSTOP … SIGCONT), after
// drained says its output has all arrived.
func paused(pid int, drained func() bool, fn func()) {
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	defer syscall.Kill(pid, syscall.SIGCONT)
	drained()
	fn()
}

// settled waits until size stops changing for 300ms (at most 10s).
func settled(size func() int) bool {
	last, since := size(), time.Now()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n := size(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= 300*time.Millisecond {
			return true
		}
	}
	return false
}

func (p *ptyTerm) lastResizeAt() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ws) == 1 {
		return -1
	}
	return p.ws[len(p.ws)-1].off
}

func (p *ptyTerm) widths() []widthAt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]widthAt(nil), p.ws...)
}

func (p *ptyTerm) interrupt() { _, _ = p.ptmx.Write([]byte{3}) }

// sample feeds the emulator what arrived and checks its screen after
// every frame: the live line is the cursor's line, fits the width, and no
// other line looks like one.
func (p *ptyTerm) sample(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.feedLocked(t)
}

func (p *ptyTerm) feedLocked(t *testing.T) {
	data := p.buf.Bytes()
	for p.fed < len(data) {
		for _, x := range p.ws {
			if x.off == p.fed && p.vt.w != x.width {
				p.vt.setWidth(x.width)
			}
		}
		stop := len(data)
		for _, x := range p.ws {
			if x.off > p.fed && x.off < stop {
				stop = x.off
			}
		}
		for _, c := range data[p.fed:stop] {
			if p.vt.put(c) {
				// A frame ended: check the screen.
				if msg := p.vt.check(); msg != "" && p.vtErr == "" && !p.vt.staleOK() {
					p.vtErr = msg
					t.Errorf("on the screen at stream offset %d: %s", p.fed, msg)
				}
			}
			p.fed++
		}
	}
}

func (p *ptyTerm) finalLines(t *testing.T) []string {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	p.feedLocked(t)
	var out []string
	for _, l := range p.vt.lines {
		out = append(out, string(l))
	}
	return out
}

func (p *ptyTerm) close() {
	if p.cmd.Process != nil && !p.exited() {
		_ = p.cmd.Process.Kill()
	}
	p.ptmx.Close()
	<-p.done
}

// tmuxTerm runs mlab in a detached tmux session of its own server; the
// stream is the pane's, piped to a file, the screen tmux's own.
type tmuxTerm struct {
	sock, rawFile, pidFile string

	mu         sync.Mutex
	ws         []widthAt
	lastResize time.Time
	width      int
	sampleErr  bool
}

func startTmux(t *testing.T, args, env []string, width int, dir string) (*tmuxTerm, error) {
	sock := filepath.Join(dir, "tmux.sock")
	if len(sock) > 100 {
		sock = filepath.Join(os.TempDir(), fmt.Sprintf("mlab-tmux-%d-%d.sock", os.Getpid(), time.Now().UnixNano()))
	}
	m := &tmuxTerm{sock: sock, rawFile: filepath.Join(dir, "pane.raw"), pidFile: filepath.Join(dir, "mlab.pid"), ws: []widthAt{{0, width}}, width: width}
	// The command runs from a script: its environment is exactly env; it
	// waits for the pipe to the raw file, then runs mlab as its child (so
	// that mlab can be stopped for a resize: tmux continues a stopped
	// pane process at once), which writes its pid and becomes mlab. The
	// pane stays once they have exited (remain-on-exit).
	var script strings.Builder
	script.WriteString("#!/bin/sh\n")
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		fmt.Fprintf(&script, "export %s=%s\n", k, shQuote(v))
	}
	script.WriteString("unset MLAB_FORCE_TTY\n")
	fmt.Fprintf(&script, "while [ ! -e %s ]; do sleep 0.05; done\n", shQuote(m.rawFile))
	// Start at the bottom of the pane, as in a terminal in use: tmux keeps
	// the cursor's row when it re-wraps lines on a resize and pushes what
	// no longer fits above into the history, so a live line on the top
	// row would have its re-wrapped first rows pushed where no program
	// can erase them (the screen stays clean; the history would not).
	fmt.Fprintf(&script, "printf '%s'\n", strings.Repeat("\\n", ptyRows))
	inner := "echo $$ > " + shQuote(m.pidFile) + "; exec"
	for _, a := range args {
		inner += " " + shQuote(a)
	}
	fmt.Fprintf(&script, "sh -c %s\n", shQuote(inner))
	runSh, conf := filepath.Join(dir, "run.sh"), filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(runSh, []byte(script.String()), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g history-limit 10000\n"), 0o644); err != nil {
		return nil, err
	}
	if out, err := m.tmux("-f", conf, "new-session", "-d", "-x", strconv.Itoa(width), "-y", strconv.Itoa(ptyRows), "sh "+shQuote(runSh)); err != nil {
		return nil, fmt.Errorf("tmux new-session: %v: %s", err, out)
	}
	if out, err := m.tmux("pipe-pane", "-o", "cat > "+shQuote(m.rawFile)); err != nil {
		m.close()
		return nil, fmt.Errorf("tmux pipe-pane: %v: %s", err, out)
	}
	return m, nil
}

func (m *tmuxTerm) tmux(args ...string) ([]byte, error) {
	cmd := exec.Command("tmux", append([]string{"-S", m.sock}, args...)...)
	cmd.Env = append(os.Environ(), "TMUX=")
	return cmd.CombinedOutput()
}

func (m *tmuxTerm) raw() []byte {
	b, _ := os.ReadFile(m.rawFile)
	return b
}

func (m *tmuxTerm) exited() bool {
	out, err := m.tmux("display-message", "-p", "#{pane_dead}")
	return err == nil && strings.TrimSpace(string(out)) == "1"
}

// resize changes the window's width with mlab stopped, once its output
// has all reached the pane and tmux has told the pty (see ptyTerm.resize).
func (m *tmuxTerm) resize(width int) {
	b, _ := os.ReadFile(m.pidFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return
	}
	paused(pid, func() bool { return settled(func() int { return len(m.raw()) }) }, func() {
		m.mu.Lock()
		m.ws = append(m.ws, widthAt{len(m.raw()), width})
		m.lastResize, m.width = time.Now(), width
		m.mu.Unlock()
		_, _ = m.tmux("resize-window", "-x", strconv.Itoa(width), "-y", strconv.Itoa(ptyRows))
		// tmux sets the pty's size on its next loop: wait for it.
		out, _ := m.tmux("display-message", "-p", "#{pane_tty}")
		if tty, err := os.OpenFile(strings.TrimSpace(string(out)), os.O_RDONLY|syscall.O_NOCTTY, 0); err == nil {
			defer tty.Close()
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if ws, err := pty.GetsizeFull(tty); err != nil || int(ws.Cols) == width {
					break
				}
			}
		}
	})
}

func (m *tmuxTerm) lastResizeAt() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ws) == 1 {
		return -1
	}
	return m.ws[len(m.ws)-1].off
}

func (m *tmuxTerm) widths() []widthAt {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]widthAt(nil), m.ws...)
}

func (m *tmuxTerm) interrupt() { _, _ = m.tmux("send-keys", "C-c") }

// sample checks tmux's screen: at most one line that looks like the live
// line, and it does not wrap. Right after a resize (a second) the screen
// may still hold a frame drawn for the old width; it is not checked then.
func (m *tmuxTerm) sample(t *testing.T) {
	m.mu.Lock()
	since, width := time.Since(m.lastResize), m.width
	m.mu.Unlock()
	if since < time.Second || m.sampleErr {
		return
	}
	out, err := m.tmux("capture-pane", "-p", "-J")
	if err != nil {
		return
	}
	live := 0
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimRight(l, " ")
		if looksLive(l) {
			live++
			if n := len([]rune(l)); n > width-1 {
				m.sampleErr = true
				t.Errorf("a live line of %d columns at width %d: %q", n, width, l)
			}
		}
	}
	if live > 1 {
		m.sampleErr = true
		t.Errorf("%d live lines on the screen:\n%s", live, out)
	}
}

func (m *tmuxTerm) finalLines(t *testing.T) []string {
	// The pane's history and screen, wrapped lines joined.
	out, err := m.tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-")
	if err != nil {
		t.Fatalf("tmux capture-pane: %v: %s", err, out)
	}
	return strings.Split(string(out), "\n")
}

func (m *tmuxTerm) close() {
	_, _ = m.tmux("kill-server")
	if strings.HasPrefix(m.sock, os.TempDir()+"/mlab-tmux-") {
		os.Remove(m.sock)
	}
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// vt is a minimal terminal for the pty: carriage return, newline (as
// CR LF, the pty's onlcr), erase in line (CSI K, CSI 2K), cursor up (CSI
// A) and printable text, with SGR and other sequences ignored. Its lines
// are logical: a line longer than the width wraps onto several rows, and
// when the width changes the rows re-wrap, as in VTE, iTerm2, kitty and
// tmux. That is what mlab's live line assumes when it erases the rows a
// shrunk window re-wrapped its last frame onto.
type vt struct {
	w       int
	lines   [][]rune
	line    int  // the cursor's line
	off     int  // the cursor's offset in it
	pending bool // the last character filled a row: the next one wraps
	esc     []byte
	utf     []byte
	stale   bool // the width changed since the last frame (it may be stale)
}

func newVT(w int) *vt { return &vt{w: w, lines: [][]rune{nil}} }

func (v *vt) setWidth(w int) {
	v.normalize()
	l := v.lines[v.line]
	if v.off == len(l) && v.off > 0 && v.off%w == 0 {
		v.off++ // the cursor ends the line's last row: a pending wrap
		v.pending = true
	}
	v.w, v.stale = w, true
}

// staleOK says a frame that does not fit may be one drawn before mlab saw
// the resize; it is forgiven once.
func (v *vt) staleOK() bool {
	ok := v.stale
	v.stale = false
	return ok
}

// normalize turns a pending wrap into a cursor on the row's last column.
func (v *vt) normalize() {
	if v.pending {
		v.off--
		v.pending = false
	}
}

// put feeds one byte; it reports whether a frame just ended (CSI K).
func (v *vt) put(c byte) bool {
	if v.esc != nil {
		v.esc = append(v.esc, c)
		if len(v.esc) == 2 && c != '[' {
			v.esc = nil // not a CSI: ignore the pair
			return false
		}
		if len(v.esc) > 2 && c >= 0x40 && c <= 0x7e {
			seq := string(v.esc)
			v.esc = nil
			return v.csi(seq)
		}
		return false
	}
	switch {
	case c == 0x1b:
		v.esc = []byte{c}
	case c == '\r':
		v.normalize()
		v.off = v.off / v.w * v.w
	case c == '\n':
		v.normalize()
		row := v.off / v.w
		if row+1 < v.rows(v.line) {
			v.off = (row + 1) * v.w
		} else {
			v.line++
			if v.line == len(v.lines) {
				v.lines = append(v.lines, nil)
			}
			v.off = 0
		}
	case c < 0x20 || c == 0x7f:
	case c >= 0x80:
		v.utf = append(v.utf, c)
		if r, n := decodeRune(v.utf); n > 0 {
			v.utf = nil
			v.print(r)
		}
	default:
		v.print(rune(c))
	}
	return false
}

func decodeRune(b []byte) (rune, int) {
	r := []rune(string(b))
	if len(r) == 1 && r[0] != 0xfffd {
		return r[0], len(b)
	}
	if len(b) >= 4 {
		return 0xfffd, len(b)
	}
	return 0, 0
}

func (v *vt) print(r rune) {
	l := v.lines[v.line]
	for len(l) < v.off {
		l = append(l, ' ')
	}
	if v.off < len(l) {
		l[v.off] = r
	} else {
		l = append(l, r)
	}
	v.lines[v.line] = l
	v.off++
	v.pending = v.off%v.w == 0
}

// rows is how many rows line i takes at the current width.
func (v *vt) rows(i int) int {
	return max(1, (len(v.lines[i])+v.w-1)/v.w)
}

func (v *vt) csi(seq string) bool {
	final := seq[len(seq)-1]
	param := seq[2 : len(seq)-1]
	if final != 'K' && final != 'A' {
		return false // SGR and the rest: no effect on the text or cursor
	}
	v.normalize()
	row := v.off / v.w
	switch final {
	case 'K':
		l := v.lines[v.line]
		end := (row + 1) * v.w
		start := v.off
		switch param {
		case "2":
			start = row * v.w
		case "", "0":
		default:
			return false // erase to the left: not used
		}
		if end >= len(l) {
			v.lines[v.line] = l[:min(start, len(l))]
		} else {
			for i := start; i < end; i++ {
				l[i] = ' '
			}
		}
		return param == "" || param == "0"
	case 'A':
		n := 1
		if param != "" {
			n, _ = strconv.Atoi(param)
		}
		for range n {
			col := v.off % v.w
			switch {
			case row > 0:
				v.off -= v.w
			case v.line > 0:
				v.line--
				v.off = (v.rows(v.line)-1)*v.w + col
			}
			row = v.off / v.w
		}
	}
	return false
}

// check looks at the screen after a frame: the frame (the cursor's line)
// fits in one row, and no other line looks like a live line.
func (v *vt) check() string {
	cur := string(v.lines[v.line])
	if n := len(v.lines[v.line]); n > v.w-1 {
		return fmt.Sprintf("the live line wraps: %d columns at width %d: %q", n, v.w, cur)
	}
	for i, l := range v.lines {
		s := string(l)
		if i != v.line && looksLive(s) {
			return fmt.Sprintf("a second live line %q (line %d) besides %q", s, i+1, cur)
		}
	}
	return ""
}
