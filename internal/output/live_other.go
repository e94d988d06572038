//go:build !unix

package output

import "os"

// liveSignals are the signals the live line reacts to: Ctrl-C erases it.
// (Resizes are seen at the next redraw, which measures the width again.)
var liveSignals = []os.Signal{os.Interrupt}
