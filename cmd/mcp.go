package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

// `mlab mcp`: the job commands as MCP tools for AI agents (Claude, Cursor,
// Codex, ...), over stdio or the streamable HTTP transport, on the official
// Go SDK. A tool call runs the command's own validation and routing and the
// same runner as the command (receiver, link watching, polling, journal),
// and waits: see mcp_tools.go.

// MCPOptions are the flags of `mlab mcp`.
type MCPOptions struct {
	f           *Factory
	HTTP        string // --http ADDR: serve the streamable HTTP transport there
	AllowRemote bool   // --allow-remote: let --http listen beyond loopback
	PrintConfig bool   // --print-config: print the client configuration and exit

	server *mcpServer // nil: newMCPServer(f) (tests tune theirs)
}

// mcpPath is where --http serves the MCP endpoint.
const mcpPath = "/mcp"

func newCmdMCP(f *Factory, runF func(context.Context, *MCPOptions) error) *cobra.Command {
	opts := &MCPOptions{f: f}
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve mlab's job commands as MCP tools for AI agents (stdio or HTTP)",
		Long: `Serve mlab as a Model Context Protocol server, so that AI agents (Claude
Desktop, Claude Code, Cursor, Codex, ...) can run ModelsLab jobs. Every job
command is a tool (img, video, tts, voice_convert, music, song, song_extend,
song_inpaint, sfx, stt, 3d, edit, lip_sync, motion_control, dub, face_swap,
interior, train), with its flags as the tool's properties, plus run (any
catalogued endpoint), wait, fetch, jobs and models.

Unlike submit-only tools, a job tool waits for the result by default, the way
the command does with --wait (webhook receiver, link watching, polling, the
journal), and sends MCP progress notifications while it waits. A call that is
cancelled or runs out of its timeout stops waiting, not the job: the result
carries its id and track_id, and the wait tool picks it up again. With
output_dir the outputs are downloaded there and small images come back
inline.

The API key and the ngrok authtoken come from the usual configuration
(MODELSLAB_API_KEY, mlab config, NGROK_AUTHTOKEN); they never appear in tool
results. By default the server speaks MCP on stdin/stdout (nothing else is
written there; --debug logs to stderr). --http ADDR serves the streamable
HTTP transport at http://ADDR` + mcpPath + ` instead, on loopback only unless
--allow-remote: every tool call spends your credits.

--print-config prints the JSON to paste into claude_desktop_config.json,
~/.cursor/mcp.json and the like.`,
		Example: `  $ mlab mcp --print-config           # paste into your client's MCP configuration
  $ claude mcp add mlab -- mlab mcp     # Claude Code
  $ mlab mcp --http 127.0.0.1:7777      # streamable HTTP at http://127.0.0.1:7777/mcp`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.AllowRemote && opts.HTTP == "" {
				return flagErrorf("--allow-remote goes with --http ADDR")
			}
			if opts.HTTP != "" {
				addr, err := mcpListenAddr(opts.HTTP, opts.AllowRemote)
				if err != nil {
					return err
				}
				opts.HTTP = addr
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMCP(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.HTTP, "http", "", "serve the streamable HTTP transport on `ADDR` (e.g. 127.0.0.1:7777 or :7777; loopback unless --allow-remote) instead of stdio")
	fl.BoolVar(&opts.AllowRemote, "allow-remote", false, "with --http: allow a non-loopback ADDR (anyone who reaches it spends your credits)")
	fl.BoolVar(&opts.PrintConfig, "print-config", false, "print the mcpServers JSON for Claude Desktop, Cursor, ... and exit")
	return cmd
}

// mcpListenAddr checks and completes --http ADDR: a bare port or an empty
// host means 127.0.0.1; a host that is not loopback needs allowRemote.
func mcpListenAddr(addr string, allowRemote bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, perr := strconv.ParseUint(addr, 10, 16); perr != nil {
			return "", flagErrorf("--http %q: want HOST:PORT or PORT, e.g. 127.0.0.1:7777", addr)
		}
		host, port = "", addr
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return "", flagErrorf("--http %q: the port must be a number from 0 to 65535", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if !allowRemote && !loopbackHost(host) {
		return "", flagErrorf("--http %s would listen beyond this machine, and every tool call spends your ModelsLab credits: use a loopback address such as 127.0.0.1:%s, or pass --allow-remote if you mean it (and put authentication in front of it)", addr, port)
	}
	return net.JoinHostPort(host, port), nil
}

// loopbackHost reports whether host names this machine only.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func runMCP(ctx context.Context, o *MCPOptions) error {
	if o.PrintConfig {
		return printMCPConfig(o)
	}
	s := o.server
	if s == nil {
		s = newMCPServer(o.f)
	}
	srv := s.server()
	if o.HTTP == "" {
		// stdin/stdout of the factory: the real ones, or a test's pipes.
		t := &mcp.IOTransport{Reader: io.NopCloser(o.f.IO.In), Writer: nopWriteCloser{o.f.IO.Out}}
		err := srv.Run(ctx, t)
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
			return nil // the client went away, or Ctrl-C
		}
		return fmt.Errorf("mcp over stdio: %w", err)
	}
	ln, err := net.Listen("tcp", o.HTTP)
	if err != nil {
		return withHint(fmt.Errorf("listen on %s: %w", o.HTTP, err), "choose another --http address or free the port")
	}
	return serveMCPHTTP(ctx, o.f, srv, ln, s.logger())
}

// serveMCPHTTP serves the streamable HTTP transport on ln until ctx ends.
func serveMCPHTTP(ctx context.Context, f *Factory, srv *mcp.Server, ln net.Listener, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle(mcpPath, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Logger: logger}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	f.IO.Infof("mlab mcp: serving the streamable HTTP transport at http://%s%s", ln.Addr(), mcpPath)
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		f.IO.Warnf("listening beyond loopback (--allow-remote): anyone who reaches %s can spend your ModelsLab credits", ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve MCP over HTTP: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutdown)
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// printMCPConfig prints the mcpServers snippet MCP clients read: this
// binary with "mcp" (or the --http URL). Only MODELSLAB_BASE_URL goes into
// env, never a key: the server reads the key from the usual configuration.
func printMCPConfig(o *MCPOptions) error {
	entry := map[string]any{}
	if o.HTTP != "" {
		if strings.HasSuffix(o.HTTP, ":0") {
			return flagErrorf("--print-config with --http needs a fixed port, not 0")
		}
		entry["url"] = "http://" + o.HTTP + mcpPath
	} else {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the path of this mlab binary: %w", err)
		}
		if exe, err = filepath.Abs(exe); err != nil {
			return fmt.Errorf("find the path of this mlab binary: %w", err)
		}
		env := map[string]string{}
		if base := strings.TrimSpace(o.f.Getenv("MODELSLAB_BASE_URL")); base != "" {
			env["MODELSLAB_BASE_URL"] = o.f.redact(base)
		}
		entry["command"], entry["args"], entry["env"] = exe, []string{"mcp"}, env
	}
	b, err := json.MarshalIndent(map[string]any{"mcpServers": map[string]any{"mlab": entry}}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the configuration: %w", err)
	}
	if _, err := fmt.Fprintf(o.f.IO.Out, "%s\n", b); err != nil {
		return err
	}
	o.f.IO.Infof("add this to your MCP client's configuration (Claude Desktop: claude_desktop_config.json; Cursor: ~/.cursor/mcp.json); the API key stays in mlab's own configuration")
	return nil
}
