package cmd

import (
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/preview"
)

// --open and --preview: the result of a job that succeeded, shown to the
// person at the terminal. Neither ever runs in a pipe or in CI; tests use
// OutputFlags.launch and never start a viewer.

// maxShown bounds how many files one job opens or previews.
const maxShown = 4

// showResult opens or previews a finished job's result as --open and
// --preview ask. Problems are warnings: the job is done and printed.
func (f *Factory) showResult(res *output.Result) {
	o := f.outputFlags()
	if o == nil {
		return
	}
	if o.Open {
		f.openResult(o, res)
	}
	if o.Preview {
		f.previewResult(res)
	}
}

// openResult opens the downloaded files, else the output URLs, in the
// desktop's viewer ($MLAB_OPENER, else open, start or xdg-open).
func (f *Factory) openResult(o *OutputFlags, res *output.Result) {
	switch {
	case preview.InCI(f.Getenv):
		f.IO.Warnf("--open: not opening anything in CI")
		return
	case !f.IO.IsStdoutTTY() && !f.IO.IsStderrTTY():
		f.IO.Warnf("--open: not a terminal, nothing opened")
		return
	}
	targets := res.Files
	if len(targets) == 0 {
		for _, u := range res.Output {
			if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
				targets = append(targets, u)
			}
		}
	}
	if len(targets) == 0 {
		f.IO.Warnf("--open: the job has no file or link to open")
		return
	}
	if len(targets) > maxShown {
		f.IO.Warnf("--open: opening the first %d of %d outputs", maxShown, len(targets))
		targets = targets[:maxShown]
	}
	name, args, ok := preview.Opener(f.Getenv, runtime.GOOS)
	if !ok {
		f.IO.Warnf("--open: no desktop to open files in (DISPLAY and WAYLAND_DISPLAY are unset; set MLAB_OPENER to a viewer command)")
		return
	}
	launch := o.launch
	if launch == nil {
		launch = startDetached
	}
	for _, t := range targets {
		if err := launch(name, append(append([]string(nil), args...), t)...); err != nil {
			f.IO.Warnf("--open: %s: %v", output.Safe(t), err)
			continue
		}
		f.IO.Infof("opened %s", output.Safe(t))
	}
}

// openerWait is how long --open waits for its opener: xdg-open, open and
// rundll32 hand the file to the viewer and return at once.
const openerWait = 3 * time.Second

// startDetached starts the opener and waits for it a little, to report
// its failure; one still running then is left to run.
func startDetached(name string, args ...string) error {
	c := exec.Command(name, args...)
	if err := c.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(openerWait):
		return nil
	}
}

// previewResult shows thumbnails of the job's downloaded images on stderr,
// when stderr is a terminal that can show them.
func (f *Factory) previewResult(res *output.Result) {
	if !f.IO.IsStderrTTY() {
		return // a pipe or a file: never an image
	}
	proto := preview.Protocol(f.Getenv)
	if proto == "" {
		f.IO.Warnf("--preview: this terminal shows no inline images (kitty, iTerm2, WezTerm, Ghostty and sixel terminals do)")
		return
	}
	var images []string
	for _, p := range res.Files {
		if preview.IsImage(p) {
			images = append(images, p)
		}
	}
	if len(images) == 0 {
		if len(res.Files) == 0 && len(res.Output) > 0 {
			f.IO.Warnf("--preview shows downloaded images: add -o DIR")
		}
		return
	}
	cols := max(8, min(32, f.IO.TerminalWidth()/3))
	for _, p := range images[:min(len(images), maxShown)] {
		seq, err := preview.Thumbnail(proto, p, cols)
		if err != nil {
			f.IO.Warnf("--preview: %s: %v", output.Safe(p), err)
			continue
		}
		f.IO.Infof("%s", seq)
	}
}
