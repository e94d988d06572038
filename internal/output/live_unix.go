//go:build unix

package output

import (
	"os"
	"syscall"
)

// liveSignals are the signals the live line reacts to: Ctrl-C erases it,
// a window resize redraws it.
var liveSignals = []os.Signal{os.Interrupt, syscall.SIGWINCH}
