// Package output owns everything mlab writes to a terminal or a pipe.
//
// The contract it enforces: standard output carries results only (one URL
// or file path per line, or exactly one JSON object per job with --json);
// everything meant for people — summaries, warnings, errors, progress bars —
// goes to standard error. Colour and progress appear only when standard
// error is a terminal, and colour is also turned off by NO_COLOR (any
// non-empty value) and TERM=dumb. MLAB_FORCE_TTY=1 makes [System] behave
// as if both streams were terminals, which is how end-to-end scripts
// exercise the terminal rendering.
//
// The pieces:
//
//   - [IOStreams]: the three streams plus lazily detected terminal facts
//     ([IOStreams.IsStderrTTY], [IOStreams.ColorEnabled],
//     [IOStreams.TerminalWidth]); [System] for the real process, [Test] for
//     buffers. Nothing is detected at init or construction time: the first
//     question asked does the work.
//   - [Styles]: every lipgloss style mlab uses, built in one place from a
//     renderer bound to standard error (lipgloss v1), plain text when colour
//     is off.
//   - [Result], [PrintResult] and [PrintError]: the human and JSON printers.
//   - [WaitProgress]: a time bar (or spinner) while a job runs.
//   - [Download]: parallel, streamed, crash-safe downloads of a job's
//     outputs with one aggregate byte progress bar.
//
// The package makes no business decisions (what exit code an error gets,
// whether to wait, whether --quiet suppresses progress): callers decide and
// this package renders.
package output
