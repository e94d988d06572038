package output

import (
	"os"
	"os/signal"
	"testing"
)

// TestMain starts the process's signal machinery before any test runs.
// The live line calls signal.Notify when its first display opens, and the
// runtime makes its signal goroutine and channels at the first Notify of
// the process: made inside a synctest bubble (most live-line tests run in
// one), they belong to it while the goroutine does not, and the runtime
// aborts with "select on synctest channel from outside bubble".
func TestMain(m *testing.M) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, liveSignals...)
	signal.Stop(ch)
	os.Exit(m.Run())
}
