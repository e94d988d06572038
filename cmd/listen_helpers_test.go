package cmd

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/output"
	"github.com/spf13/cobra"
)

func readPayload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "payloads", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gate blocks every Write until it is opened: a terminal, a disk or an app
// that has stopped dead.
type gate struct {
	open chan struct{}
	mu   sync.Mutex
	w    io.Writer
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.w.Write(p)
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testFactory(t testing.TB, out, errOut io.Writer) *Factory {
	ios, _, _, _ := output.Test()
	ios.Out, ios.ErrOut = out, errOut
	dir := t.TempDir()
	return NewFactory(ios, BuildInfo{Version: "test"}, func(k string) string {
		if k == "MLAB_CONFIG_DIR" {
			return dir
		}
		return ""
	})
}

// startListen runs `mlab listen` in-process and returns its webhook URL and
// a function that stops it (like Ctrl-C) and returns its error.
func startListen(t testing.TB, o *ListenOptions) (string, func() error) {
	t.Helper()
	if o.Tunnel == "" {
		o.Tunnel = "local"
	}
	if o.TunnelWait == 0 {
		o.TunnelWait = time.Second
	}
	if o.ForwardTimeout == 0 {
		o.ForwardTimeout = 10 * time.Second
	}
	ready := make(chan string, 1)
	o.onReady = func(u string) { ready <- u }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- runListen(ctx, o) }()
	select {
	case u := <-ready:
		return u, func() error { cancel(); return <-done }
	case err := <-done:
		t.Fatalf("listen ended before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("listen not ready in 10s")
	}
	return "", nil
}

// executeQuietly runs cmd with args, its output discarded.
func executeQuietly(cmd *cobra.Command, args []string) error {
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	return cmd.Execute()
}
