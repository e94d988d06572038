package tunnel

import (
	"bytes"
	"log/slog"
	"sync"
)

var logMu sync.Mutex

type lockedWriter struct{ b *bytes.Buffer }

func (w lockedWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return w.b.Write(p)
}

func newSyncLogger(b *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{b}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func syncString(b *bytes.Buffer) string {
	logMu.Lock()
	defer logMu.Unlock()
	return b.String()
}
