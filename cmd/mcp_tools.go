package cmd

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

// The tools of `mlab mcp`. A job tool is generated from the job command's
// spec (one source of truth): its properties are the spec's positional
// argument and flags. A call turns its arguments back into the command's
// argv and runs the spec's own cobra command with a runF that captures the
// parsed options, so every check and the model routing are the command's;
// then the job runs through the same runner path as runJob, with an
// observer that sends MCP progress notifications. Every call has its own
// Factory whose stdout is a buffer: the result is what --json prints.

// mcpJobSpecs are the job commands served as tools, in the order of mlab's
// help (TestMCPToolsCoverJobCommands checks that none is missing).
func mcpJobSpecs() []*jobSpec {
	return []*jobSpec{
		imgSpec, videoSpec, ttsSpec, voiceConvertSpec, musicSpec, songSpec, songExtendSpec, songInpaintSpec,
		threeDSpec, editSpec(), lipSyncSpec, motionControlSpec, dubSpec, sfxSpec, sttSpec,
		faceSwapSpec, interiorSpec, trainSpec,
	}
}

// mcpToolName is a command's tool name: "song extend" → "song_extend",
// "lip-sync" → "lip_sync".
func mcpToolName(command string) string {
	return strings.NewReplacer("-", "_", " ", "_").Replace(command)
}

// mcpServer builds the MCP server of one `mlab mcp` and runs its calls.
type mcpServer struct {
	f *Factory
	// every is how often a waiting call reports progress when nothing
	// else happens.
	every time.Duration
	// jobArgs are added to the argv of every job call, and waitArgs to
	// every wait call (tests: a short --poll-interval).
	jobArgs, waitArgs []string
	// middleware is added to the server (tests: to see the results of
	// calls the client cancelled).
	middleware []mcp.Middleware
}

func newMCPServer(f *Factory) *mcpServer {
	return &mcpServer{f: f, every: 5 * time.Second}
}

// logger logs the SDK's events to stderr with --debug (redacted), else nil.
func (s *mcpServer) logger() *slog.Logger {
	w := s.f.DebugWriter()
	if w == nil {
		return nil
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

const mcpInstructions = `mlab runs ModelsLab generation jobs (images, video, speech, music, 3D, edits, ...).
A job tool submits the job and, by default (wait: true), waits for its result and returns it:
output URLs, and with output_dir the downloaded files (small images inline). Long jobs send
progress notifications. If a call is cancelled or times out, the job keeps running (it is paid
for): do not submit it again; call the wait tool with the id or track_id from the result or
from the first progress notification. jobs lists recent jobs, models finds a model_id.`

// server builds the MCP server with every tool.
func (s *mcpServer) server() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "mlab", Title: "mlab (ModelsLab)", Version: s.f.Build.Version},
		&mcp.ServerOptions{Logger: s.logger(), Instructions: mcpInstructions, Capabilities: &mcp.ServerCapabilities{}})
	for _, spec := range mcpJobSpecs() {
		t, h := s.jobTool(spec)
		srv.AddTool(t, h)
	}
	for _, add := range []func() (*mcp.Tool, mcp.ToolHandler){s.runTool, s.waitTool, s.fetchTool, s.jobsTool, s.modelsTool} {
		srv.AddTool(add())
	}
	srv.AddReceivingMiddleware(s.middleware...)
	return srv
}

// mcpParam is one property of a tool's input: its schema and the argv it
// becomes.
type mcpParam struct {
	name, typ, desc string
	enum            []string
	def             any
	required        bool
	extra           map[string]any // more schema (items, additionalProperties)
	positional      bool           // the command's positional argument
	seconds         bool           // a duration: a bare number means seconds
	absent          []string       // argv when the property is not given
	to              func(v mcpValue) []string
}

// mcpValue is a checked argument: scalars as text, arrays as a list,
// objects raw.
type mcpValue struct {
	text string
	list []string
	obj  map[string]json.RawMessage
}

// flagParam is a property that becomes --flag=VALUE.
func flagParam(name, flag, typ, desc string) mcpParam {
	return mcpParam{name: name, typ: typ, desc: desc, to: func(v mcpValue) []string { return []string{"--" + flag + "=" + v.text} }}
}

// mcpSchema is the JSON schema of params.
func mcpSchema(params []mcpParam) map[string]any {
	props := map[string]any{}
	var required []string
	for _, p := range params {
		s := map[string]any{"type": p.typ}
		if p.desc != "" {
			s["description"] = p.desc
		}
		if len(p.enum) > 0 {
			s["enum"] = p.enum
		}
		if p.def != nil {
			s["default"] = p.def
		}
		for k, v := range p.extra {
			s[k] = v
		}
		props[p.name] = s
		if p.required {
			required = append(required, p.name)
		}
	}
	schema := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		schema["required"] = required
	}
	return schema
}

// mcpArgv checks a call's arguments against params and returns the argv
// of its flags and of its positional argument (to go after "--").
func mcpArgv(raw json.RawMessage, params []mcpParam) (flags, positional []string, err error) {
	args := map[string]json.RawMessage{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && string(t) != "null" {
		if err := json.Unmarshal(t, &args); err != nil {
			return nil, nil, flagErrorf("the arguments must be a JSON object: %v", err)
		}
	}
	known := map[string]bool{}
	var names []string
	for _, p := range params {
		known[p.name] = true
		names = append(names, p.name)
	}
	var unknown []string
	for k := range args {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, nil, flagErrorf("unknown argument %s; this tool takes %s (extra body fields go in fields)", strings.Join(quoteAll(unknown), ", "), strings.Join(names, ", "))
	}
	flags = []string{}
	for _, p := range params {
		rv, given := args[p.name]
		if !given || string(bytes.TrimSpace(rv)) == "null" {
			if p.required {
				return nil, nil, flagErrorf("%s is required", p.name)
			}
			flags = append(flags, p.absent...)
			continue
		}
		v, err := p.value(rv)
		if err != nil {
			return nil, nil, err
		}
		if p.positional {
			positional = append(positional, v.text)
			continue
		}
		flags = append(flags, p.to(v)...)
	}
	return flags, positional, nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// value checks one argument against the property's type (numbers and
// booleans may come as their text, a string as a one-item array).
func (p mcpParam) value(raw json.RawMessage) (mcpValue, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return mcpValue{}, flagErrorf("%s: %v", p.name, err)
	}
	switch p.typ {
	case "object":
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return p.bad("an object", raw)
		}
		if err := checkFieldKeys(obj, p.name); err != nil {
			return mcpValue{}, err
		}
		return mcpValue{obj: obj}, nil
	case "array":
		items, ok := v.([]any)
		if s, isText := v.(string); isText {
			items, ok = []any{s}, true
		}
		if !ok {
			return p.bad("an array of strings", raw)
		}
		var list []string
		for _, it := range items {
			s, ok := scalarText(it)
			if !ok {
				return p.bad("an array of strings", raw)
			}
			list = append(list, s)
		}
		return mcpValue{list: list}, nil
	}
	return p.scalar(v, raw)
}

// scalar checks a string, integer, number or boolean argument.
func (p mcpParam) scalar(v any, raw json.RawMessage) (mcpValue, error) {
	text, ok := scalarText(v)
	if !ok {
		return p.bad("a "+p.typ, raw)
	}
	trimmed := strings.TrimSpace(text)
	switch p.typ {
	case "integer":
		if _, err := strconv.ParseInt(trimmed, 10, 64); err != nil {
			return p.bad("an integer", raw)
		}
		text = trimmed
	case "number":
		if _, err := strconv.ParseFloat(trimmed, 64); err != nil {
			return p.bad("a number", raw)
		}
		text = trimmed
	case "boolean":
		b, err := strconv.ParseBool(trimmed)
		if err != nil {
			return p.bad("true or false", raw)
		}
		text = strconv.FormatBool(b)
	case "string":
		if _, isNum := v.(json.Number); isNum && p.seconds {
			text += "s"
		}
	}
	if len(p.enum) > 0 && !contains(p.enum, text) {
		return mcpValue{}, flagErrorf("%s must be one of %s, got %q", p.name, strings.Join(p.enum, ", "), text)
	}
	return mcpValue{text: text}, nil
}

func (p mcpParam) bad(want string, raw json.RawMessage) (mcpValue, error) {
	return mcpValue{}, flagErrorf("%s: want %s, got %s", p.name, want, clipJSON(raw))
}

// scalarText is a JSON string, number or boolean as text.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// clipJSON is an argument as shown in an error.
func clipJSON(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

// csvField writes s as one value of a comma-separated list flag (pflag
// reads those as CSV), so that a comma or a quote in it stays in it.
func csvField(s string) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{s})
	w.Flush()
	return strings.TrimRight(b.String(), "\r\n")
}

func kindType(k fieldKind) string {
	switch k {
	case kInt, kInt64:
		return "integer"
	case kFloat:
		return "number"
	case kBool:
		return "boolean"
	case kStrings:
		return "array"
	}
	return "string"
}

// defaultValue is a flag's default as a JSON value of its type.
func defaultValue(ff fieldFlag) any {
	if ff.def == "" {
		return nil
	}
	switch ff.kind {
	case kInt, kInt64:
		if n, err := strconv.ParseInt(ff.def, 10, 64); err == nil {
			return n
		}
	case kFloat:
		if n, err := strconv.ParseFloat(ff.def, 64); err == nil {
			return n
		}
	case kBool:
		if b, err := strconv.ParseBool(ff.def); err == nil {
			return b
		}
	}
	return ff.def
}

// fieldsParam is the fields property: extra body fields, like -F and -f.
func fieldsParam(desc string) mcpParam {
	return mcpParam{name: "fields", typ: "object", desc: desc, extra: map[string]any{"additionalProperties": true},
		to: func(v mcpValue) []string {
			keys := make([]string, 0, len(v.obj))
			for k := range v.obj {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var argv []string
			for _, k := range keys {
				raw := bytes.TrimSpace(v.obj[k])
				var s string
				if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
					argv = append(argv, "--raw-field="+k+"="+s) // a string stays a string, "@..." included
					continue
				}
				var buf bytes.Buffer
				if json.Compact(&buf, raw) != nil {
					buf.Reset()
					buf.Write(raw)
				}
				argv = append(argv, "--field="+k+"="+buf.String())
			}
			return argv
		}}
}

// checkFieldKeys refuses body field names -F cannot carry.
func checkFieldKeys(obj map[string]json.RawMessage, what string) error {
	for k := range obj {
		if strings.TrimSpace(k) == "" || strings.Contains(k, "=") || strings.TrimSpace(k) != k {
			return flagErrorf("%s: %q is not a field name", what, k)
		}
	}
	return nil
}

// waitParams are the properties every job tool shares.
func waitParams(timeout time.Duration) []mcpParam {
	wait := flagParam("wait", "wait", "boolean", "wait for the result (webhook or polling, with progress notifications) and return it; false submits only and returns the job's id at once (the wait tool picks it up)")
	wait.def, wait.absent = true, []string{"--wait=true"}
	to := flagParam("timeout", "timeout", "string", "stop waiting after this long, e.g. 90s, 10m, 1h (a number is seconds): the call then returns the job's id and the job goes on")
	to.def, to.seconds = timeout.String(), true
	dir := flagParam("output_dir", "output-dir", "string", "download the outputs into this directory on the machine mlab runs on (absolute path recommended); their paths come back under files, and images of up to 1 MB inline")
	track := flagParam("track_id", "track-id", "string", "the track_id to send (default: generated); it also names the job for the wait tool")
	return []mcpParam{wait, to, dir, track}
}

// jobParams are the properties of a job command's tool and the map of its
// flags to them (to say errors in the tool's terms).
func jobParams(spec *jobSpec) ([]mcpParam, map[string]string) {
	var ps []mcpParam
	flags := map[string]string{"wait": "wait", "timeout": "timeout", "output-dir": "output_dir", "track-id": "track_id", "api": "api"}
	if spec.argName != "" {
		name := spec.argField
		if name == "" {
			name = strings.ToLower(spec.argName)
		}
		desc := fmt.Sprintf("%s, the positional argument of mlab %s", spec.argName, spec.name())
		if spec.argField != "" {
			desc += " (body field " + spec.argField + ")"
		}
		ps = append(ps, mcpParam{name: name, typ: "string", desc: desc, required: !spec.argOptional, positional: true})
	}
	for _, ff := range spec.flags {
		name := strings.ReplaceAll(ff.flag, "-", "_")
		desc := strings.ReplaceAll(ff.usage, "`", "")
		if ff.field != "" && ff.field != name && !strings.HasPrefix(desc, ff.field) {
			desc += " (body field " + ff.field + ")"
		}
		if ff.kind == kFile {
			desc += "; a path on the machine mlab runs on: to send the text itself, put it in fields." + ff.field
		}
		p := flagParam(name, ff.flag, kindType(ff.kind), desc)
		p.enum, p.def = ff.choices, defaultValue(ff)
		if ff.kind == kStrings {
			flag := ff.flag
			p.extra = map[string]any{"items": map[string]any{"type": "string"}}
			p.to = func(v mcpValue) []string {
				var argv []string
				for _, s := range v.list {
					if s != "" {
						argv = append(argv, "--"+flag+"="+csvField(s))
					}
				}
				return argv
			}
		}
		ps = append(ps, p)
		flags[ff.flag] = name
	}
	ps = append(ps, fieldsParam("extra body fields, as -F/-f would send them (strings stay strings; numbers, booleans, null, arrays and objects are sent as JSON); they win over the properties above, e.g. {\"enhance_prompt\": true}"))
	if spec.endpoint != nil && spec.v7 != nil {
		api := flagParam("api", "api", "string", "ModelsLab API: auto (by model, from mlab's model table), v6 or v7")
		api.enum, api.def = []string{"auto", "v6", "v7"}, "auto"
		ps = append(ps, api)
	}
	timeout := spec.timeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	return append(ps, waitParams(timeout)...), flags
}

const mcpJobNote = `

As a tool: the flags named above (--some-flag) are this tool's properties (some_flag); anything else
goes in fields. By default the call waits for the job and returns the JSON object of
"mlab %s --json" (id, track_id, endpoint, status, output URLs, files, via, ...). If the call is cancelled
or times out, the job keeps running: the result (and the first progress notification) carries its id,
and the wait tool picks it up; do not submit it again.`

// jobTool is the tool of one job command.
func (s *mcpServer) jobTool(spec *jobSpec) (*mcp.Tool, mcp.ToolHandler) {
	params, flags := jobParams(spec)
	name := mcpToolName(spec.name())
	t := &mcp.Tool{
		Name:        name,
		Title:       "mlab " + spec.name(),
		Description: spec.short + "\n\n" + spec.long + fmt.Sprintf(mcpJobNote, spec.name()),
		InputSchema: mcpSchema(params),
		Annotations: &mcp.ToolAnnotations{Title: "mlab " + spec.name(), DestructiveHint: new(false), OpenWorldHint: new(true)},
	}
	return t, s.handle(name, flags, func(ctx context.Context, c *mcpCall) *mcp.CallToolResult {
		argv, pos, err := mcpArgv(c.req.Params.Arguments, params)
		if err != nil {
			return c.outcome(err)
		}
		var o *JobCmdOptions
		cmd := newJobCmd(c.cf, spec, func(_ context.Context, got *JobCmdOptions) error { o = got; return nil })
		if err := runCobra(ctx, cmd, joinArgv(argv, s.jobArgs, pos)); err != nil {
			return c.outcome(err)
		}
		ep, body, err := o.request()
		if err != nil {
			return c.outcome(err)
		}
		o.Job.transcript = spec.transcript
		return s.runJob(ctx, c, &o.Job, &runner.Job{Endpoint: ep, Body: body})
	})
}

// joinArgv puts the flags, then extra, then the positional argument after
// "--" (so that a prompt starting with "-" stays a prompt).
func joinArgv(flags, extra, positional []string) []string {
	argv := append(append([]string{}, flags...), extra...)
	if len(positional) > 0 {
		argv = append(append(argv, "--"), positional...)
	}
	return argv
}

// runCobra runs a command built for one call with argv, printing nothing
// of its own (its errors come back).
func runCobra(ctx context.Context, cmd *cobra.Command, argv []string) error {
	cmd.SetArgs(append([]string{}, argv...)) // never nil: cobra would read os.Args
	cmd.SetIn(strings.NewReader(""))
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &FlagError{Err: err} })
	return cmd.ExecuteContext(ctx)
}

// runTool is `mlab run` as a tool: any catalogue row, its body in fields.
func (s *mcpServer) runTool() (*mcp.Tool, mcp.ToolHandler) {
	names, lines := catalogueLines()
	endpoint := mcpParam{name: "endpoint", typ: "string", desc: "the catalogue endpoint", enum: names, required: true, positional: true}
	fields := fieldsParam("the request body (local files in input fields such as init_image are uploaded first), e.g. {\"prompt\": \"a lighthouse\", \"model_id\": \"flux\"}")
	params := mcpParam{name: "params", typ: "object", desc: "path parameters, e.g. {\"workflow_id\": \"...\"}", extra: map[string]any{"additionalProperties": map[string]any{"type": "string"}},
		to: func(v mcpValue) []string {
			var argv []string
			for _, k := range sortedKeys(v.obj) {
				var s string
				if raw := bytes.TrimSpace(v.obj[k]); len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
					s = string(raw)
				}
				argv = append(argv, "--param="+k+"="+s)
			}
			return argv
		}}
	ps := append([]mcpParam{endpoint, fields, params}, waitParams(30*time.Minute)...)
	t := &mcp.Tool{
		Name:  "run",
		Title: "mlab run",
		Description: "Run any endpoint of mlab's catalogue with a raw body (fields), with the same wait, result and journal as the dedicated tools. Prefer the dedicated tool where there is one.\n\nEndpoints:\n" +
			strings.Join(lines, "\n") + fmt.Sprintf(mcpJobNote, "run ENDPOINT"),
		InputSchema: mcpSchema(ps),
		Annotations: &mcp.ToolAnnotations{Title: "mlab run", DestructiveHint: new(false), OpenWorldHint: new(true)},
	}
	flags := map[string]string{"wait": "wait", "timeout": "timeout", "output-dir": "output_dir", "track-id": "track_id", "param": "params", "field": "fields", "raw-field": "fields"}
	return t, s.handle("run", flags, func(ctx context.Context, c *mcpCall) *mcp.CallToolResult { return s.runCall(ctx, c, ps, names) })
}

// catalogueLines are the catalogue's endpoint names (sorted) and a line
// on each, for the run tool's description.
func catalogueLines() (names, lines []string) {
	for _, ep := range api.Catalogue() {
		names = append(names, ep.Name)
		extra, req := "", ""
		if pp := ep.PathParams(); len(pp) > 0 {
			extra = " (params: " + strings.Join(pp, ", ") + ")"
		}
		if len(ep.Required) > 0 {
			req = "; needs " + strings.Join(ep.Required, ", ")
		}
		lines = append(lines, fmt.Sprintf("  %s: %s%s%s", ep.Name, ep.Summary, req, extra))
	}
	sort.Strings(names)
	return names, lines
}

// runCall is one call of the run tool: `mlab run`'s flags, its body as
// runRun builds it, then the job.
func (s *mcpServer) runCall(ctx context.Context, c *mcpCall, ps []mcpParam, names []string) *mcp.CallToolResult {
	argv, pos, err := mcpArgv(c.req.Params.Arguments, ps)
	if err != nil {
		return c.outcome(err)
	}
	var o *RunOptions
	cmd := newCmdRun(c.cf, func(_ context.Context, got *RunOptions) error { o = got; return nil })
	if err := runCobra(ctx, cmd, joinArgv(argv, s.jobArgs, pos)); err != nil {
		return c.outcome(err)
	}
	ep, ok := api.Lookup(o.Endpoint)
	if !ok {
		return c.outcome(flagErrorf("unknown endpoint %q; one of: %s", o.Endpoint, strings.Join(names, ", ")))
	}
	pp, err := parseParams(o.Params)
	if err != nil {
		return c.outcome(err)
	}
	if ep, err = withPathParams(ep, pp); err != nil {
		return c.outcome(err)
	}
	body, err := bodyFromInput("", o.Job.Fields, o.Job.RawFields, c.cf.IO.In)
	if err != nil {
		return c.outcome(err)
	}
	return s.runJob(ctx, c, &o.Job, &runner.Job{Endpoint: ep, PathParams: pp, Body: body})
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// runJob is a job command's single-job path (runOne) for a tool call: the
// job is run with an observer that reports progress to the client, and
// the outcome printed as --json would, into the call's buffer.
func (s *mcpServer) runJob(ctx context.Context, c *mcpCall, o *JobOptions, j *runner.Job) *mcp.CallToolResult {
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(o.Timeout))
	defer cancel()
	o.started = start
	obs := c.progress(ctx)
	defer obs.stop()
	return c.outcome(runOne(ctx, c.cf, o, j, obs, func(r *runner.Runner, out *runner.Outcome, err error, dir string) error {
		defer obs.stop() // before the runner closes
		return printOutcome(c.cf, out, err, outcomeView{
			JSON:       true,
			Pending:    func(*runner.Outcome) string { return "" },
			Resume:     func(out *runner.Outcome) string { return mcpResumeHint(r, j, out, dir) },
			Transcript: o.transcript,
			KeepFiles:  dir != "",
		})
	}))
}

// mcpResumeHint says how an agent picks a job up again.
func mcpResumeHint(r *runner.Runner, j *runner.Job, out *runner.Outcome, dir string) string {
	if !r.Journaled() {
		return resumeHint(r, j, out, "", false)
	}
	return "the job keeps running at ModelsLab (do not submit it again): " + waitToolHint(out.TrackID, dir)
}

// waitToolHint is the call of the wait tool that waits for ref.
func waitToolHint(ref, dir string) string {
	args := map[string]string{"id": output.Safe(ref)}
	if dir != "" {
		args["output_dir"] = dir
	}
	b, _ := json.Marshal(args)
	return fmt.Sprintf("call the wait tool with %s to wait for its result (or run: mlab wait %s%s)", b, shellQuote(output.Safe(ref)), resumeFlags(dir, false))
}

// waitTool is `mlab wait` as a tool.
func (s *mcpServer) waitTool() (*mcp.Tool, mcp.ToolHandler) {
	ps := []mcpParam{
		{name: "id", typ: "string", desc: "the job's id or track_id (from a job tool's result or the jobs tool)", required: true, positional: true},
		flagParam("output_dir", "output-dir", "string", "download the outputs into this directory (files missing there are downloaded again for a finished job); images of up to 1 MB come back inline"),
		flagParam("timeout", "timeout", "string", "stop waiting after this long, e.g. 10m (a number is seconds); the job goes on"),
		flagParam("kind", "kind", "string", "for a job not in mlab's journal: its kind"),
		flagParam("endpoint", "endpoint", "string", "for a job not in mlab's journal: the catalogue endpoint it was submitted to"),
	}
	ps[2].def, ps[2].seconds = "30m0s", true
	ps[3].enum = kindNames()
	t := &mcp.Tool{
		Name:  "wait",
		Title: "mlab wait",
		Description: "Wait for a job submitted before (by a job tool with wait: false, or one whose call was cancelled or timed out), by polling, with progress notifications, " +
			"and return its result as the job tools do. A job that already finished is not fetched again.",
		InputSchema: mcpSchema(ps),
		Annotations: &mcp.ToolAnnotations{Title: "mlab wait", DestructiveHint: new(false), IdempotentHint: true, OpenWorldHint: new(true)},
	}
	flags := map[string]string{"output-dir": "output_dir", "timeout": "timeout", "kind": "kind", "endpoint": "endpoint"}
	return t, s.handle("wait", flags, func(ctx context.Context, c *mcpCall) *mcp.CallToolResult {
		argv, pos, err := mcpArgv(c.req.Params.Arguments, ps)
		if err != nil {
			return c.outcome(err)
		}
		var o *WaitOptions
		cmd := newCmdWait(c.cf, func(_ context.Context, got *WaitOptions) error { o = got; return nil })
		if err := runCobra(ctx, cmd, joinArgv(argv, s.waitArgs, pos)); err != nil {
			return c.outcome(err)
		}
		o.JSON = true
		obs := c.progress(ctx)
		defer obs.stop()
		// runWait, with the progress observer.
		err = o.resume(ctx, true, func(ctx context.Context, j *runner.Job, r *runner.Runner) (*runner.Outcome, outcomeView, error) {
			out, err := r.Run(ctx, j, obs)
			return out, outcomeView{JSON: true, Resume: func(out *runner.Outcome) string { return mcpResumeHint(r, j, out, o.OutputDir) }}, err
		})
		return c.outcome(err)
	})
}

// fetchTool is `mlab fetch` as a tool: one read of a job's state.
func (s *mcpServer) fetchTool() (*mcp.Tool, mcp.ToolHandler) {
	ps := []mcpParam{
		{name: "id", typ: "string", desc: "the job's id or track_id", required: true, positional: true},
		flagParam("kind", "kind", "string", "for a job not in mlab's journal: its kind"),
		flagParam("endpoint", "endpoint", "string", "for a job not in mlab's journal: the catalogue endpoint it was submitted to"),
	}
	ps[1].enum = kindNames()
	t := &mcp.Tool{
		Name:        "fetch",
		Title:       "mlab fetch",
		Description: "Ask the API once for a job's current state (no waiting): its output URLs when done, its message when failed, status processing while it runs.",
		InputSchema: mcpSchema(ps),
		Annotations: &mcp.ToolAnnotations{Title: "mlab fetch", ReadOnlyHint: true, OpenWorldHint: new(true)},
	}
	return t, s.handle("fetch", map[string]string{"kind": "kind", "endpoint": "endpoint"}, func(ctx context.Context, c *mcpCall) *mcp.CallToolResult {
		argv, pos, err := mcpArgv(c.req.Params.Arguments, ps)
		if err != nil {
			return c.outcome(err)
		}
		return c.outcome(runCobra(ctx, newCmdFetch(c.cf), joinArgv(append(argv, "--json"), nil, pos)))
	})
}

// jobsTool is `mlab jobs --json` as a tool.
func (s *mcpServer) jobsTool() (*mcp.Tool, mcp.ToolHandler) {
	ps := []mcpParam{
		flagParam("status", "status", "string", "only jobs with this status (submitting: sent but never answered, it may have been paid for)"),
		flagParam("kind", "kind", "string", "only jobs of this kind: img, video, audio, 3d, train, workflow, edit, ..."),
		flagParam("since", "since", "string", "only jobs submitted in the last DUR, e.g. 90m, 24h, 7d"),
		flagParam("limit", "limit", "integer", "at most this many jobs, newest first (0: all)"),
	}
	ps[0].enum = historyStatuses
	ps[3].def, ps[3].absent = 20, []string{"--limit=20"}
	t := &mcp.Tool{
		Name:        "jobs",
		Title:       "mlab jobs",
		Description: "List the jobs mlab has submitted (its local journal), newest first: id, track_id, kind, endpoint, status, output, files, ... Use it to find a job whose call was cancelled, then the wait tool.",
		InputSchema: mcpSchema(ps),
		Annotations: &mcp.ToolAnnotations{Title: "mlab jobs", ReadOnlyHint: true, OpenWorldHint: new(false)},
	}
	return t, s.handle("jobs", map[string]string{"status": "status", "kind": "kind", "since": "since", "limit": "limit"}, func(ctx context.Context, c *mcpCall) *mcp.CallToolResult {
		argv, _, err := mcpArgv(c.req.Params.Arguments, ps)
		if err != nil {
			return c.outcome(err)
		}
		if err := runCobra(ctx, newCmdHistory(c.cf, nil), append(argv, "--json")); err != nil {
			return c.outcome(err)
		}
		return c.list("jobs")
	})
}

// modelsTool is `mlab models --json` (and `models show`) as a tool.
func (s *mcpServer) modelsTool() (*mcp.Tool, mcp.ToolHandler) {
	ps := []mcpParam{
		{name: "query", typ: "string", desc: "models whose id, name, provider or description contain this", positional: true},
		flagParam("feature", "feature", "string", "only this feature, e.g. imagen, video_fusion, audio_gen"),
		flagParam("provider", "provider", "string", "only this provider, e.g. byteplus, klingai, google"),
		flagParam("api", "api", "string", "only models of this API"),
		flagParam("limit", "limit", "integer", "at most this many models (0: all)"),
		flagParam("refresh", "refresh", "boolean", "ask the API even when the cached list (a day old at most) is fresh"),
		{name: "id", typ: "string", desc: "show this one model instead: its API, endpoints and parameters (the other properties are ignored)", to: func(mcpValue) []string { return nil }},
	}
	ps[3].enum = []string{"v6", "v7"}
	ps[4].def, ps[4].absent = 50, []string{"--limit=50"}
	t := &mcp.Tool{
		Name:        "models",
		Title:       "mlab models",
		Description: "Find a model_id: search ModelsLab's models (v6 and v7), with the API each runs on; with id, one model's endpoints and parameters. Pass the model_id as a job tool's model.",
		InputSchema: mcpSchema(ps),
		Annotations: &mcp.ToolAnnotations{Title: "mlab models", ReadOnlyHint: true, OpenWorldHint: new(true)},
	}
	return t, s.handle("models", map[string]string{"feature": "feature", "provider": "provider", "api": "api", "limit": "limit", "refresh": "refresh"}, func(ctx context.Context, c *mcpCall) *mcp.CallToolResult {
		argv, pos, err := mcpArgv(c.req.Params.Arguments, ps)
		if err != nil {
			return c.outcome(err)
		}
		var id string
		if raw, ok := argsOf(c.req.Params.Arguments)["id"]; ok {
			_ = json.Unmarshal(raw, &id)
		}
		if id = strings.TrimSpace(id); id != "" {
			if err := runCobra(ctx, newCmdModels(c.cf, nil), []string{"show", "--json", "--", id}); err != nil {
				return c.outcome(err)
			}
			return c.outcome(nil)
		}
		if err := runCobra(ctx, newCmdModels(c.cf, nil), joinArgv(append(argv, "--json"), nil, pos)); err != nil {
			return c.outcome(err)
		}
		return c.list("models")
	})
}

// argsOf is a call's arguments by name (already checked by mcpArgv).
func argsOf(raw json.RawMessage) map[string]json.RawMessage {
	args := map[string]json.RawMessage{}
	_ = json.Unmarshal(raw, &args)
	return args
}
