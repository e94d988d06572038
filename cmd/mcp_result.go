package cmd

// The results of mlab mcp's tool calls: each call's own Factory (stdout
// into a buffer), and the mapping of what the command printed and
// returned onto an MCP tool result.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpCall is one tool call: its own Factory, whose stdout is a buffer.
type mcpCall struct {
	s     *mcpServer
	req   *mcp.CallToolRequest
	cf    *Factory
	out   *bytes.Buffer
	flags map[string]string // the command's flag → the tool's property
}

// handle wraps a tool's body: a Factory of its own for the call, and a
// panic is a tool error, never a crash of the server.
func (s *mcpServer) handle(tool string, flags map[string]string, fn func(context.Context, *mcpCall) *mcp.CallToolResult) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (res *mcp.CallToolResult, err error) {
		c := s.newCall(req, flags)
		defer func() {
			if p := recover(); p != nil {
				res, err = c.outcome(fmt.Errorf("mlab mcp: internal error in tool %s: %v", tool, p)), nil
			}
		}()
		if w := c.cf.DebugWriter(); w != nil {
			fmt.Fprintf(w, "mcp: tools/call %s\n", tool)
		}
		return fn(ctx, c), nil
	}
}

// newCall makes the Factory of one call: the server's configuration
// (environment, --api-key, --debug), no stdin, stdout into a buffer, and
// stderr only with --debug (never a terminal: no progress bars).
func (s *mcpServer) newCall(req *mcp.CallToolRequest, flags map[string]string) *mcpCall {
	var out bytes.Buffer
	errOut := io.Discard
	if s.f.debug {
		errOut = struct{ io.Writer }{s.f.IO.ErrOut}
	}
	cf := NewFactory(&output.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: errOut}, s.f.Build, s.f.Getenv)
	cf.apiKeyFlag, cf.debug, cf.seams = s.f.apiKeyFlag, s.f.debug, s.f.seams
	// Resolved now, so that the key and the ngrok authtoken are known
	// secrets of every call, also of those that never use them (jobs
	// shows what the API once said); an error comes back where it matters.
	_, _ = cf.Config()
	return &mcpCall{s: s, req: req, cf: cf, out: &out, flags: flags}
}

// mcpRedact removes every known secret of f from s: the Factory's
// redaction, then any occurrence left, also one glued to other text (an
// API that echoes the key after an escape sequence, "\x1b[31m<key>"). A
// tool result goes to an agent, and maybe into its transcript: mangling a
// word that contains a key is the lesser harm.
func mcpRedact(f *Factory, s string) string {
	s = f.redact(s)
	f.secretsMu.Lock()
	secrets := append([]string{f.apiKeyFlag}, f.secrets...)
	f.secretsMu.Unlock()
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, sec := range secrets {
		if len(sec) >= MinKeyLength {
			s = strings.ReplaceAll(s, sec, api.Redacted)
		}
	}
	return s
}

var flagToken = regexp.MustCompile(`--([a-z0-9][a-z0-9-]*)`)

// say turns a command's message into the tool's terms: --init-image is
// the property init_image.
func (c *mcpCall) say(s string) string {
	s = mcpRedact(c.cf, s)
	return flagToken.ReplaceAllStringFunc(s, func(m string) string {
		if p, ok := c.flags[m[2:]]; ok {
			return p
		}
		return m
	})
}

// outcome is the tool result of a call that printed (into its buffer) the
// JSON a command prints with --json, and returned err:
//   - a job that is done, or submitted without waiting: the JSON object as
//     structured content and as text, and small downloaded images inline;
//   - a wait stopped by a cancelled call or the timeout: the same, status
//     processing, with a hint naming the wait tool. Not an error: the job
//     goes on (paid for) and the tool did what it could; an error would
//     invite an agent to submit it again;
//   - a failed job, a bad argument, an API or download error: IsError,
//     with the message and the hint (and the JSON when there is one).
func (c *mcpCall) outcome(err error) *mcp.CallToolResult {
	text := strings.TrimSpace(mcpRedact(c.cf, c.out.String()))
	obj := map[string]any{}
	if text != "" {
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		if dec.Decode(&obj) != nil || obj == nil {
			obj = map[string]any{"output": text}
		}
	}
	var (
		stopped *runner.StoppedError
		fe      *FlagError
	)
	isStop := errors.As(err, &stopped)
	res := &mcp.CallToolResult{}
	hint := ""
	switch {
	case err != nil:
		hint = hintFor(err)
		if errors.As(err, &fe) {
			hint = "see this tool's input schema (tools/list) for its properties"
		}
	case obj["status"] != nil && obj["status"] != "success" && obj["status"] != "failed":
		ref, _ := obj["track_id"].(string)
		if ref == "" {
			ref, _ = obj["id"].(string)
		}
		if ref != "" {
			hint = "the job is not done yet: " + waitToolHint(ref, "")
		}
	}
	var lead []mcp.Content
	if err != nil && !isStop {
		msg := c.say(err.Error())
		res.IsError = true
		if _, has := obj["error"]; !has {
			obj["error"] = msg
		}
		line := "error: " + msg
		if hint != "" {
			line += "\nhint: " + c.say(hint)
		}
		lead = append(lead, &mcp.TextContent{Text: line})
	}
	if hint != "" {
		obj["hint"] = c.say(hint)
	}
	res.StructuredContent = obj
	b, jerr := json.Marshal(obj)
	if jerr != nil {
		b = []byte(text)
	}
	res.Content = append(lead, &mcp.TextContent{Text: string(b)})
	if files, ok := obj["files"].([]any); ok {
		res.Content = append(res.Content, inlineImages(files)...)
	}
	return res
}

// list is the result of a command that printed JSON lines: {name: [...],
// "count": n}.
func (c *mcpCall) list(name string) *mcp.CallToolResult {
	dec := json.NewDecoder(strings.NewReader(mcpRedact(c.cf, c.out.String())))
	dec.UseNumber()
	items := []any{}
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			if err != io.EOF {
				return c.outcome(fmt.Errorf("read the %s: %w", name, err))
			}
			break
		}
		items = append(items, v)
	}
	obj := map[string]any{name: items, "count": len(items)}
	b, err := json.Marshal(obj)
	if err != nil {
		return c.outcome(fmt.Errorf("encode the %s: %w", name, err))
	}
	return &mcp.CallToolResult{StructuredContent: obj, Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}
}

// Inline images: each at most maxInlineImage, all together at most
// maxInlineTotal (the base64 of a frame grows by a third).
const (
	maxInlineImage = 1 << 20
	maxInlineTotal = 4 << 20
)

// inlineImages reads the downloaded files that are small PNG, JPEG or
// WebP images, as MCP image content.
func inlineImages(files []any) []mcp.Content {
	var out []mcp.Content
	total := 0
	for _, f := range files {
		path, _ := f.(string)
		if path == "" {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxInlineImage || total+int(fi.Size()) > maxInlineTotal {
			continue
		}
		data, err := output.ReadBounded(path, maxInlineImage)
		if err != nil {
			continue
		}
		switch mt := http.DetectContentType(data); mt {
		case "image/png", "image/jpeg", "image/webp":
			out = append(out, &mcp.ImageContent{Data: data, MIMEType: mt})
			total += len(data)
		}
	}
	return out
}
