package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/sandbox"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

// The MCP server is driven through the SDK's own client: over stdio (the
// real `mlab mcp` command on io.Pipe stdin/stdout) and over the
// streamable HTTP transport, against the in-process sandbox API.

// mcpSandbox starts a sandbox API and returns the env of a factory that
// talks to it.
func mcpSandbox(t *testing.T, o sandbox.Options) map[string]string {
	t.Helper()
	sb := sandbox.New(o)
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return map[string]string{"MODELSLAB_BASE_URL": base, "MODELSLAB_API_KEY": "sk-test-0123456789", "MLAB_CACHE_DIR": t.TempDir()}
}

// testMCPServer is a server tuned for tests: quick polls, quick progress.
func testMCPServer(f *Factory) *mcpServer {
	s := newMCPServer(f)
	s.every = 150 * time.Millisecond
	s.jobArgs = []string{"--poll-interval=100ms"}
	s.waitArgs = []string{"--poll-interval=100ms"}
	return s
}

// mcpClient is a client session with the progress notifications it got.
type mcpClient struct {
	*mcp.ClientSession
	mu    sync.Mutex
	notes []*mcp.ProgressNotificationParams
	noted chan *mcp.ProgressNotificationParams
	// httpURL is the MCP endpoint of an HTTP client.
	httpURL string
	// errOut is the server's stderr (stdio).
	errOut *mcpLogBuffer
}

// mcpLogBuffer is a stderr the server writes while the test reads it.
type mcpLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *mcpLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *mcpLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newMCPClient() (*mcp.Client, *mcpClient) {
	c := &mcpClient{noted: make(chan *mcp.ProgressNotificationParams, 100)}
	client := mcp.NewClient(&mcp.Implementation{Name: "mlab-test", Version: "v0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			c.mu.Lock()
			c.notes = append(c.notes, req.Params)
			c.mu.Unlock()
			select {
			case c.noted <- req.Params:
			default:
			}
		},
	})
	return client, c
}

func (c *mcpClient) notesFor(token string) []*mcp.ProgressNotificationParams {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*mcp.ProgressNotificationParams
	for _, n := range c.notes {
		if n.ProgressToken == token {
			out = append(out, n)
		}
	}
	return out
}

// call calls a tool, with a progress token when token is set.
func (c *mcpClient) call(t *testing.T, ctx context.Context, name, token string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	p := &mcp.CallToolParams{Name: name, Arguments: args}
	if token != "" {
		p.SetProgressToken(token)
	}
	res, err := c.CallTool(ctx, p)
	if err != nil {
		t.Fatalf("call %s: %v (a protocol error, want a result)", name, err)
	}
	return res
}

// recorder keeps every byte the server wrote on its stdout.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
	return r.w.Write(p)
}

// stdioMCP runs `mlab mcp` on pipes and connects the SDK's client to it.
// At cleanup it checks that stdout carried nothing but JSON-RPC frames and
// stderr nothing at all (no --debug).
func stdioMCP(t *testing.T, env map[string]string, tune func(*mcpServer)) *mcpClient {
	t.Helper()
	f, _, _ := jobTestFactory(t, env)
	errOut := &mcpLogBuffer{}
	f.IO.ErrOut = errOut
	s := testMCPServer(f)
	if tune != nil {
		tune(s)
	}
	clientIn, serverOut := io.Pipe()
	serverIn, clientOut := io.Pipe()
	rec := &recorder{w: serverOut}
	f.IO.In, f.IO.Out = serverIn, rec
	cmd := newCmdMCP(f, func(ctx context.Context, o *MCPOptions) error { o.server = s; return runMCP(ctx, o) })
	cmd.SetArgs([]string{})
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(context.Background())
		serverOut.Close()
	}()
	client, c := newMCPClient()
	sess, err := client.Connect(context.Background(), &mcp.IOTransport{Reader: clientIn, Writer: clientOut}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.ClientSession, c.errOut = sess, errOut
	t.Cleanup(func() {
		sess.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("mlab mcp returned %v when the client went away", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("mlab mcp did not end when its stdin closed")
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		sc := bufio.NewScanner(bytes.NewReader(rec.buf.Bytes()))
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var frame struct {
				JSONRPC string `json:"jsonrpc"`
			}
			if err := json.Unmarshal(sc.Bytes(), &frame); err != nil || frame.JSONRPC != "2.0" {
				t.Errorf("stdout carries a line that is not a JSON-RPC frame: %.200q", sc.Text())
			}
		}
		if e := errOut.String(); e != "" && !f.debug {
			t.Errorf("stderr without --debug: %q", e)
		}
	})
	return c
}

// httpMCP serves `mlab mcp --http` on a loopback listener and connects the
// SDK's streamable client to it.
func httpMCP(t *testing.T, env map[string]string) *mcpClient {
	t.Helper()
	f, _, _ := jobTestFactory(t, env)
	s := testMCPServer(f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveMCPHTTP(ctx, f, s.server(), ln, nil) }()
	client, c := newMCPClient()
	c.httpURL = "http://" + ln.Addr().String() + mcpPath
	sess, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: c.httpURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.ClientSession = sess
	t.Cleanup(func() {
		sess.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return c
}

// structured is a result's structured content as an object.
func structured(t *testing.T, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return m
}

func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func images(res *mcp.CallToolResult) []*mcp.ImageContent {
	var out []*mcp.ImageContent
	for _, c := range res.Content {
		if ic, ok := c.(*mcp.ImageContent); ok {
			out = append(out, ic)
		}
	}
	return out
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestMCPListTools: one tool per job command plus run, wait, fetch, jobs
// and models; img's schema comes from its spec.
func TestMCPListTools(t *testing.T) {
	c := stdioMCP(t, mcpSandbox(t, sandbox.Options{}), nil)
	res, err := c.ListTools(testCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	tools := map[string]*mcp.Tool{}
	for _, tool := range res.Tools {
		tools[tool.Name] = tool
	}
	for _, name := range []string{"img", "video", "tts", "voice_convert", "music", "song", "song_extend", "song_inpaint", "sfx", "stt", "3d", "edit",
		"lip_sync", "motion_control", "dub", "face_swap", "interior", "train", "run", "wait", "fetch", "jobs", "models"} {
		if tools[name] == nil {
			t.Errorf("no tool %s", name)
		}
	}
	b, _ := json.Marshal(tools["img"].InputSchema)
	var schema struct {
		Type       string                    `json:"type"`
		Required   []string                  `json:"required"`
		Properties map[string]map[string]any `json:"properties"`
		Additional bool                      `json:"additionalProperties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	p := schema.Properties
	switch {
	case schema.Type != "object" || schema.Additional || !slices.Equal(schema.Required, []string{"prompt"}):
		t.Errorf("img schema %s", b)
	case p["prompt"]["type"] != "string", p["model"]["default"] != "flux", p["width"]["type"] != "integer", p["guidance"]["type"] != "number",
		p["negative_prompt"]["type"] != "string", p["fields"]["type"] != "object", p["wait"]["default"] != true,
		p["timeout"]["default"] != "30m0s", p["output_dir"]["type"] != "string":
		t.Errorf("img properties %s", b)
	case !strings.Contains(p["width"]["description"].(string), "width in pixels"):
		t.Errorf("width description %v", p["width"]["description"])
	}
	if enum, _ := p["api"]["enum"].([]any); len(enum) != 3 {
		t.Errorf("img api %v", p["api"])
	}
	vb, _ := json.Marshal(tools["video"].InputSchema)
	if !strings.Contains(string(vb), `"enum":["mp4","gif"]`) || !strings.Contains(string(vb), `"timeout":{"default":"1h0m0s"`) {
		t.Errorf("video schema %s: want output_type's choices and the command's timeout", vb)
	}
	tb, _ := json.Marshal(tools["train"].InputSchema)
	if !strings.Contains(string(tb), `"images":{"description":"training images: URLs or local files","items":{"type":"string"},"type":"array"}`) {
		t.Errorf("train schema %s: want images as an array", tb)
	}
	eb, _ := json.Marshal(tools["edit"].InputSchema)
	if !strings.Contains(string(eb), `"operation":{`) || !strings.Contains(string(eb), `"prompt":{`) {
		t.Errorf("edit schema %s: want operation (the positional) and prompt (a flag)", eb)
	}
}

// TestMCPToolsCoverJobCommands: every job command of mlab is a tool, and
// no tool has two properties of one name.
func TestMCPToolsCoverJobCommands(t *testing.T) {
	f, _, _ := jobTestFactory(t, nil)
	tools := map[string]bool{}
	for _, spec := range mcpJobSpecs() {
		name := mcpToolName(spec.name())
		if tools[name] {
			t.Errorf("two tools named %s", name)
		}
		tools[name] = true
		params, _ := jobParams(spec)
		seen := map[string]bool{}
		for _, p := range params {
			if seen[p.name] {
				t.Errorf("tool %s has two properties %s", name, p.name)
			}
			seen[p.name] = true
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimPrefix(c.CommandPath(), "mlab ")
		if c.Flags().Lookup("batch") != nil && c.Flags().Lookup("field") != nil && path != "run" && !strings.HasPrefix(path, "workflow") {
			if !tools[mcpToolName(path)] {
				t.Errorf("job command %q has no MCP tool: add its spec to mcpJobSpecs", path)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCmd(f))
}

// TestMCPImgWaits: img with wait sends progress notifications while it
// waits and returns the result, its file and the image inline.
func TestMCPImgWaits(t *testing.T) {
	c := stdioMCP(t, mcpSandbox(t, sandbox.Options{Delay: 800 * time.Millisecond, DropWebhooks: true}), nil)
	dir := t.TempDir()
	res := c.call(t, testCtx(t), "img", "p1", map[string]any{"prompt": "a lighthouse", "width": 512, "output_dir": dir})
	if res.IsError {
		t.Fatalf("error result: %s", resultText(res))
	}
	out := structured(t, res)
	files, _ := out["files"].([]any)
	if out["status"] != "success" || out["endpoint"] != "text2img" || out["id"] == "" || len(files) != 1 {
		t.Fatalf("result %v", out)
	}
	if _, err := os.Stat(files[0].(string)); err != nil || filepath.Dir(files[0].(string)) != dir {
		t.Fatalf("file %v: %v", files[0], err)
	}
	imgs := images(res)
	if len(imgs) != 1 || imgs[0].MIMEType != "image/png" || !bytes.HasPrefix(imgs[0].Data, []byte("\x89PNG")) {
		t.Fatalf("inline images %v", imgs)
	}
	var text map[string]any
	if err := json.Unmarshal([]byte(resultText(res)), &text); err != nil || text["id"] != out["id"] {
		t.Fatalf("text content %q (%v): want the JSON result", resultText(res), err)
	}
	notes := c.notesFor("p1")
	if len(notes) < 2 {
		t.Fatalf("%d progress notifications, want the submit and the wait", len(notes))
	}
	if !strings.Contains(notes[0].Message, "submitted text2img job "+out["id"].(string)) || !strings.Contains(notes[0].Message, "wait tool") {
		t.Errorf("first notification %q: want the id and the resume hint", notes[0].Message)
	}
	for i := 1; i < len(notes); i++ {
		if notes[i].Progress <= notes[i-1].Progress {
			t.Errorf("progress does not grow: %v then %v", notes[i-1].Progress, notes[i].Progress)
		}
	}
	if !slices.ContainsFunc(notes, func(n *mcp.ProgressNotificationParams) bool { return strings.Contains(n.Message, "eta") }) {
		t.Errorf("no notification says elapsed against the eta: %v", notes)
	}
	// Without a progress token: no notifications, the same result.
	before := len(c.notes)
	if res := c.call(t, testCtx(t), "img", "", map[string]any{"prompt": "quiet"}); res.IsError || structured(t, res)["status"] != "success" {
		t.Fatalf("without a token: %s", resultText(res))
	}
	if len(c.notes) != before {
		t.Errorf("notifications without a progress token")
	}
}

// TestMCPNoWaitThenWait: wait:false returns the id at once; the wait tool
// picks the job up by id; fetch and jobs see it.
func TestMCPNoWaitThenWait(t *testing.T) {
	c := stdioMCP(t, mcpSandbox(t, sandbox.Options{Delay: 600 * time.Millisecond}), nil)
	ctx := testCtx(t)
	res := c.call(t, ctx, "img", "", map[string]any{"prompt": "later", "wait": false})
	out := structured(t, res)
	id, _ := out["id"].(string)
	if res.IsError || out["status"] != "processing" || id == "" || !strings.Contains(out["hint"].(string), "wait tool") {
		t.Fatalf("wait:false: %s", resultText(res))
	}
	if fr := c.call(t, ctx, "fetch", "", map[string]any{"id": id}); fr.IsError || structured(t, fr)["id"] != id {
		t.Fatalf("fetch: %s", resultText(fr))
	}
	dir := t.TempDir()
	res = c.call(t, ctx, "wait", "w1", map[string]any{"id": id, "output_dir": dir})
	out = structured(t, res)
	if res.IsError || out["status"] != "success" || out["id"] != id || len(images(res)) != 1 {
		t.Fatalf("wait: %s", resultText(res))
	}
	if len(c.notesFor("w1")) == 0 {
		t.Error("the wait tool sent no progress")
	}
	jr := c.call(t, ctx, "jobs", "", map[string]any{"limit": 5})
	jobs := structured(t, jr)
	list, _ := jobs["jobs"].([]any)
	if jr.IsError || len(list) != 1 || list[0].(map[string]any)["id"] != id || list[0].(map[string]any)["status"] != "success" {
		t.Fatalf("jobs: %s", resultText(jr))
	}
	if wr := c.call(t, ctx, "wait", "", map[string]any{"id": "nope-not-a-job"}); !wr.IsError || !strings.Contains(resultText(wr), "not in the journal") {
		t.Fatalf("wait for an unknown job: %s", resultText(wr))
	}
}

// TestMCPCancelKeepsJob: a call cancelled while it waits stops the wait,
// not the job: the client has the id from the first notification, the
// server's result (isError false) carries it with the resume hint, and
// the job is in the journal.
func TestMCPCancelKeepsJob(t *testing.T) {
	results := make(chan *mcp.CallToolResult, 10)
	keep := func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if r, ok := res.(*mcp.CallToolResult); ok && method == "tools/call" {
				results <- r
			}
			return res, err
		}
	}
	c := stdioMCP(t, mcpSandbox(t, sandbox.Options{Delay: 10 * time.Minute}), func(s *mcpServer) { s.middleware = []mcp.Middleware{keep} })
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		p := &mcp.CallToolParams{Name: "img", Arguments: map[string]any{"prompt": "a long one"}}
		p.SetProgressToken("long")
		_, err := c.CallTool(ctx, p)
		errc <- err
	}()
	var first string
	select {
	case n := <-c.noted:
		first = n.Message
	case <-time.After(20 * time.Second):
		t.Fatal("no progress notification")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	var res *mcp.CallToolResult
	select {
	case res = <-results:
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not end the cancelled call")
	}
	out := structured(t, res)
	id, _ := out["id"].(string)
	track, _ := out["track_id"].(string)
	if res.IsError || out["status"] != "processing" || id == "" || !strings.Contains(first, "job "+id) {
		t.Fatalf("cancelled call's result %s (first notification %q)", resultText(res), first)
	}
	if hint, _ := out["hint"].(string); !strings.Contains(hint, `wait tool with {"id":"`+track+`"}`) || !strings.Contains(hint, "mlab wait "+track) {
		t.Fatalf("hint %q", hint)
	}
	jr := c.call(t, testCtx(t), "jobs", "", map[string]any{"status": "processing"})
	list, _ := structured(t, jr)["jobs"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != id {
		t.Fatalf("jobs after the cancel: %s", resultText(jr))
	}
	// A timeout is the same: the id back, not an error.
	tr := c.call(t, testCtx(t), "img", "", map[string]any{"prompt": "short patience", "timeout": 1})
	if out := structured(t, tr); tr.IsError || out["status"] != "processing" || !strings.Contains(out["hint"].(string), "wait tool") {
		t.Fatalf("timeout: %s", resultText(tr))
	}
}

// TestMCPBadArguments: bad arguments are tool errors (IsError with the
// message in the tool's terms), never a crash or a protocol error.
func TestMCPBadArguments(t *testing.T) {
	c := stdioMCP(t, mcpSandbox(t, sandbox.Options{}), nil)
	ctx := testCtx(t)
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"img", map[string]any{"prompt": "x", "width": "abc"}, `width: want an integer, got "abc"`},
		{"img", map[string]any{"prompt": "x", "width": 1.5}, "width: want an integer"},
		{"img", map[string]any{"prompt": "x", "api": "v9"}, "api must be one of auto, v6, v7"},
		{"img", map[string]any{}, "prompt is required"},
		{"img", map[string]any{"prompt": "x", "colour": "red"}, `unknown argument "colour"`},
		{"img", map[string]any{"prompt": "x", "mask_image": "m.png"}, "mask_image needs init_image"},
		{"img", map[string]any{"prompt": "x", "timeout": "soon"}, "invalid argument"},
		{"img", map[string]any{"prompt": "x", "fields": []any{1}}, "fields: want an object"},
		{"video", map[string]any{"prompt": "x", "output_type": "avi"}, "output_type must be one of mp4, gif"},
		{"edit", map[string]any{"operation": "paint_it_black"}, "unknown operation"},
		{"run", map[string]any{"endpoint": "text2img"}, "needs prompt"},
		{"wait", map[string]any{}, "id is required"},
	} {
		res := c.call(t, ctx, tc.tool, "", tc.args)
		if !res.IsError || !strings.Contains(resultText(res), tc.want) {
			t.Errorf("%s %v: IsError=%v %q, want an error saying %q", tc.tool, tc.args, res.IsError, resultText(res), tc.want)
		}
	}
	if _, err := c.ListTools(ctx, nil); err != nil {
		t.Fatalf("the server is gone after bad calls: %v", err)
	}
}

// TestMCPFailedJobIsToolError: a job the API failed is a tool error that
// still carries the job's JSON.
func TestMCPFailedJobIsToolError(t *testing.T) {
	c := stdioMCP(t, mcpSandbox(t, sandbox.Options{Delay: 200 * time.Millisecond, Fail: true, FailMessage: "out of GPUs"}), nil)
	res := c.call(t, testCtx(t), "img", "", map[string]any{"prompt": "x"})
	out := structured(t, res)
	if !res.IsError || out["status"] != "failed" || !strings.Contains(resultText(res), "out of GPUs") {
		t.Fatalf("failed job: IsError=%v %s", res.IsError, resultText(res))
	}
}

// TestMCPOtherTools: run, stt (the transcript under text), models.
func TestMCPOtherTools(t *testing.T) {
	c := stdioMCP(t, mcpSandbox(t, sandbox.Options{Delay: 200 * time.Millisecond}), nil)
	ctx := testCtx(t)
	res := c.call(t, ctx, "run", "", map[string]any{"endpoint": "text2img", "fields": map[string]any{"prompt": "raw", "model_id": "flux", "samples": 1}})
	if res.IsError || structured(t, res)["status"] != "success" {
		t.Fatalf("run: %s", resultText(res))
	}
	res = c.call(t, ctx, "stt", "", map[string]any{"init_audio": "https://example.com/talk.mp3"})
	if text, _ := structured(t, res)["text"].(string); res.IsError || text == "" {
		t.Fatalf("stt: %s", resultText(res))
	}
	res = c.call(t, ctx, "models", "", map[string]any{"limit": 3})
	models, _ := structured(t, res)["models"].([]any)
	if res.IsError || len(models) == 0 || len(models) > 3 {
		t.Fatalf("models: %s", resultText(res))
	}
	id, _ := models[0].(map[string]any)["model_id"].(string)
	res = c.call(t, ctx, "models", "", map[string]any{"id": id})
	if res.IsError || structured(t, res)["model_id"] != id {
		t.Fatalf("models id %s: %s", id, resultText(res))
	}
}

// TestMCPKeyNeverInResults: an API that echoes the key (in meta and
// message) never gets it into a tool result or a notification.
func TestMCPKeyNeverInResults(t *testing.T) {
	const key = "sk-echo-0123456789"
	env := map[string]string{"MODELSLAB_API_KEY": key, "MODELSLAB_BASE_URL": hostileAPI(t), "MLAB_CACHE_DIR": t.TempDir()}
	c := stdioMCP(t, env, nil)
	ctx := testCtx(t)
	var all []string
	res := c.call(t, ctx, "img", "k", map[string]any{"prompt": "x"})
	if res.IsError {
		t.Fatalf("img: %s", resultText(res))
	}
	b, _ := json.Marshal(res)
	all = append(all, string(b))
	id := structured(t, res)["id"].(string)
	for _, call := range []struct {
		tool string
		args map[string]any
	}{{"fetch", map[string]any{"id": id}}, {"jobs", nil}, {"img", map[string]any{"prompt": "y", "wait": false}}} {
		b, _ := json.Marshal(c.call(t, ctx, call.tool, "", call.args))
		all = append(all, string(b))
	}
	for _, n := range c.notesFor("k") {
		all = append(all, n.Message)
	}
	joined := strings.Join(all, "\n")
	if strings.Contains(joined, key) {
		t.Fatalf("the key reached a result or a notification:\n%s", joined)
	}
	if !strings.Contains(joined, "[redacted]") {
		t.Fatalf("want the echoed key shown redacted:\n%s", joined)
	}
}

// TestMCPDebugLogsToStderr: with --debug the calls and the API traffic
// are logged on stderr, redacted; stdout still carries only frames.
func TestMCPDebugLogsToStderr(t *testing.T) {
	env := mcpSandbox(t, sandbox.Options{Delay: 200 * time.Millisecond})
	c := stdioMCP(t, env, func(s *mcpServer) { s.f.debug = true })
	if res := c.call(t, testCtx(t), "img", "", map[string]any{"prompt": "logged"}); res.IsError {
		t.Fatalf("img: %s", resultText(res))
	}
	logs := c.errOut.String()
	if !strings.Contains(logs, "mcp: tools/call img") || !strings.Contains(logs, "text2img") {
		t.Errorf("debug log %q: want the call and the API traffic", logs)
	}
	if strings.Contains(logs, env["MODELSLAB_API_KEY"]) {
		t.Errorf("the key in the debug log: %q", logs)
	}
}

// TestMCPHTTP: the same tools over the streamable HTTP transport.
func TestMCPHTTP(t *testing.T) {
	c := httpMCP(t, mcpSandbox(t, sandbox.Options{Delay: 600 * time.Millisecond, DropWebhooks: true}))
	ctx := testCtx(t)
	tools, err := c.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) < 20 {
		t.Fatalf("list tools: %v", err)
	}
	res := c.call(t, ctx, "img", "h1", map[string]any{"prompt": "over http", "output_dir": t.TempDir()})
	if res.IsError || structured(t, res)["status"] != "success" || len(images(res)) != 1 {
		t.Fatalf("img over http: %s", resultText(res))
	}
	if notes := c.notesFor("h1"); len(notes) < 2 || !strings.Contains(notes[0].Message, "submitted") {
		t.Fatalf("progress over http: %v", notes)
	}
	res = c.call(t, ctx, "img", "", map[string]any{"prompt": "later", "wait": false})
	id, _ := structured(t, res)["id"].(string)
	res = c.call(t, ctx, "wait", "", map[string]any{"id": id})
	if res.IsError || structured(t, res)["status"] != "success" {
		t.Fatalf("wait over http: %s", resultText(res))
	}
	if res := c.call(t, ctx, "img", "", map[string]any{"prompt": "x", "width": "abc"}); !res.IsError {
		t.Fatalf("bad argument over http: %s", resultText(res))
	}
	// A request naming another host is refused (DNS rebinding).
	req, _ := http.NewRequest("POST", c.httpURL, strings.NewReader("{}"))
	req.Host = "evil.example"
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("foreign Host header: HTTP %d, want 403", resp.StatusCode)
		}
	}
}

// TestMCPPrintConfig: the snippet names this binary and mcp, with only the
// base URL in env, never the key.
func TestMCPPrintConfig(t *testing.T) {
	const key = "sk-secret-0123456789"
	f, out, _ := jobTestFactory(t, map[string]string{"MODELSLAB_API_KEY": key, "MODELSLAB_BASE_URL": "http://127.0.0.1:9/", "NGROK_AUTHTOKEN": "ngrok-secret-123"})
	cmd := newCmdMCP(f, nil)
	cmd.SetArgs([]string{"--print-config"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		MCPServers map[string]struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal(out.Bytes(), &cfg); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	e := cfg.MCPServers["mlab"]
	exe, _ := os.Executable()
	if !filepath.IsAbs(e.Command) || filepath.Base(e.Command) != filepath.Base(exe) || !slices.Equal(e.Args, []string{"mcp"}) ||
		len(e.Env) != 1 || e.Env["MODELSLAB_BASE_URL"] != "http://127.0.0.1:9/" {
		t.Fatalf("config %s", out)
	}
	if strings.Contains(out.String(), key) || strings.Contains(out.String(), "ngrok-secret") {
		t.Fatalf("a secret in the config: %s", out)
	}
}

// TestMCPListenAddr: --http listens on loopback unless --allow-remote.
func TestMCPListenAddr(t *testing.T) {
	for _, tc := range []struct {
		in     string
		remote bool
		want   string
	}{
		{"7777", false, "127.0.0.1:7777"},
		{":7777", false, "127.0.0.1:7777"},
		{"127.0.0.1:0", false, "127.0.0.1:0"},
		{"localhost:7777", false, "localhost:7777"},
		{"[::1]:7777", false, "[::1]:7777"},
		{"0.0.0.0:7777", false, ""},
		{"192.168.1.5:7777", false, ""},
		{"example.com:80", false, ""},
		{"0.0.0.0:7777", true, "0.0.0.0:7777"},
		{"nonsense", false, ""},
		{"127.0.0.1:99999", false, ""},
	} {
		got, err := mcpListenAddr(tc.in, tc.remote)
		if tc.want == "" {
			var fe *FlagError
			if !errors.As(err, &fe) {
				t.Errorf("%s (remote %v): %q, %v; want a usage error", tc.in, tc.remote, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	f, _, _ := jobTestFactory(t, nil)
	cmd := newCmdMCP(f, func(context.Context, *MCPOptions) error { t.Fatal("ran"); return nil })
	cmd.SetArgs([]string{"--http", "0.0.0.0:7777"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Fatalf("non-loopback --http: %v", err)
	}
}

// TestMCPArgv: arguments become the command's argv exactly.
func TestMCPArgv(t *testing.T) {
	params, _ := jobParams(trainSpec)
	raw := json.RawMessage(`{"images":["a.png","b,c.png"],"instance_prompt":"photo of x","steps":"300","fields":{"n":3,"s":"@/etc/passwd","o":{"a":[1]},"z":null},"timeout":90,"dreambooth":true}`)
	flags, pos, err := mcpArgv(raw, params)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--images=a.png", `--images="b,c.png"`, "--instance-prompt=photo of x", "--steps=300", "--dreambooth=true",
		"--field=n=3", `--field=o={"a":[1]}`, "--raw-field=s=@/etc/passwd", "--field=z=null", "--wait=true", "--timeout=90s"}
	if !slices.Equal(flags, want) || pos != nil {
		t.Fatalf("argv\n%q\nwant\n%q", flags, want)
	}
	// The spec's own command parses them as the flags they are.
	f, _, _ := jobTestFactory(t, nil)
	var o *JobCmdOptions
	cmd := newJobCmd(f, trainSpec, func(_ context.Context, got *JobCmdOptions) error { o = got; return nil })
	if err := runCobra(context.Background(), cmd, flags); err != nil {
		t.Fatal(err)
	}
	ep, body, err := o.request()
	if err != nil {
		t.Fatal(err)
	}
	if ep.Name != "fine_tune" || !slices.Equal(body["images"].([]string), []string{"a.png", "b,c.png"}) || body["s"] != "@/etc/passwd" || fmt.Sprint(body["max_train_steps"]) != "300" {
		t.Fatalf("%s %v", ep.Name, body)
	}
	ip, _ := jobParams(imgSpec)
	flags, pos, err = mcpArgv(json.RawMessage(`{"prompt":"--help me","width":512}`), ip)
	if err != nil || !slices.Equal(pos, []string{"--help me"}) {
		t.Fatalf("%q %q %v", flags, pos, err)
	}
	cmd = newCmdImg(f, func(_ context.Context, got *JobCmdOptions) error { o = got; return nil })
	if err := runCobra(context.Background(), cmd, joinArgv(flags, nil, pos)); err != nil || o.Arg != "--help me" {
		t.Fatalf("a prompt like a flag: %v %q", err, o.Arg)
	}
}
