package sandbox

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Workflow ids of the sandbox's two workflows.
const (
	WorkflowTextToImageUpscale = "5f1c9f1e-0000-4000-8000-000000000001"
	WorkflowImageRestyle       = "5f1c9f1e-0000-4000-8000-000000000002"
)

const (
	firstExecID       = 12345
	wfRateLimit       = 10
	wfDefaultFailText = "Image generation failed: Invalid prompt"
	wfCancelledText   = "Execution cancelled."
)

// wfParam is one parameter of a workflow schema.
type wfParam struct {
	key, typ         string
	required         bool
	nodeID, nodeName string
}

// workflowDef is a workflow the sandbox knows.
type workflowDef struct {
	id, name, description string
	params                []wfParam
	steps                 []string // node names, in execution order
	created, updated      time.Time
}

var workflowDefs = []*workflowDef{
	{
		id:          WorkflowTextToImageUpscale,
		name:        "Text to image + upscale",
		description: "Generates an image from a prompt and upscales it",
		params: []wfParam{
			{"prompt", "string", true, "node-1", "Text to Image"},
			{"negative_prompt", "string", false, "node-1", "Text to Image"},
			{"width", "number", false, "node-1", "Text to Image"},
			{"height", "number", false, "node-1", "Text to Image"},
			{"scale", "number", false, "node-2", "Image Upscaler"},
		},
		steps:   []string{"Text to Image", "Image Upscaler"},
		created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		updated: time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC),
	},
	{
		id:          WorkflowImageRestyle,
		name:        "Image restyle",
		description: "Restyles an input image following a prompt",
		params: []wfParam{
			{"init_image", "string", true, "node-1", "Load Image"},
			{"prompt", "string", true, "node-2", "Image to Image"},
			{"strength", "number", false, "node-2", "Image to Image"},
		},
		steps:   []string{"Load Image", "Image to Image"},
		created: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		updated: time.Date(2026, 2, 3, 8, 0, 0, 0, time.UTC),
	},
}

func workflowByID(id string) *workflowDef {
	for _, wf := range workflowDefs {
		if wf.id == id {
			return wf
		}
	}
	return nil
}

// wfUsage is the call count of a workflow, for the list.
type wfUsage struct {
	calls int
	last  time.Time
}

// execution is one workflow run. Only cancelledAt and hookSent change
// after creation; both are guarded by Server.mu.
type execution struct {
	id       int64
	wf       *workflowDef
	input    object // the run's parameters, webhook left out
	webhook  string
	base     string // base URL of the run request, for output links
	created  time.Time
	runAt    time.Time // pending until then
	doneAt   time.Time
	end      string // terminal state reached at doneAt: completed, failed or cancelled
	errorMsg string
	fate     fate

	cancelledAt time.Time // set by the cancel endpoint
	hookSent    bool      // the webhook was sent (or is being sent)
}

// state is the status of e at now and, once terminal, when it ended.
// The caller holds Server.mu.
func (e *execution) state(now time.Time) (string, time.Time) {
	switch {
	case !e.cancelledAt.IsZero():
		return "cancelled", e.cancelledAt
	case !now.Before(e.doneAt):
		return e.end, e.doneAt
	case now.Before(e.runAt):
		return "pending", time.Time{}
	}
	return "running", time.Time{}
}

func terminal(state string) bool {
	return state == "completed" || state == "failed" || state == "cancelled"
}

func (e *execution) outputURL(proxy bool) string {
	p := "/workflow-outputs/"
	if proxy {
		p = "/proxy" + p
	}
	return fmt.Sprintf("%s%s%d-0.png", e.base, p, e.id)
}

// stepWindow is when step i of e runs: the running time is shared evenly.
func (e *execution) stepWindow(i int) (time.Time, time.Time) {
	n := time.Duration(len(e.wf.steps))
	d := e.doneAt.Sub(e.runAt) / n
	start := e.runAt.Add(time.Duration(i) * d)
	end := start.Add(d)
	if i == len(e.wf.steps)-1 {
		end = e.doneAt
	}
	return start, end
}

// steps renders steps[] at now for a state. The caller holds Server.mu.
func (e *execution) steps(now time.Time, state string, ended time.Time) []object {
	ts := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return timestamp(t)
	}
	var out []object
	for i, name := range e.wf.steps {
		start, end := e.stepWindow(i)
		st, started, completed := "pending", time.Time{}, time.Time{}
		switch {
		case state == "completed":
			st, started, completed = "completed", start, end
		case state == "failed":
			st, started, completed = "completed", start, end
			if i == len(e.wf.steps)-1 {
				st = "failed"
			}
		case state == "cancelled":
			switch {
			case !end.After(ended):
				st, started, completed = "completed", start, end
			case !start.After(ended):
				st, started, completed = "cancelled", start, ended
			default:
				st = "cancelled"
			}
		case state == "running":
			switch {
			case !now.Before(end):
				st, started, completed = "completed", start, end
			case !now.Before(start):
				st, started = "running", start
			}
		}
		out = append(out, object{{"name", name}, {"status", st}, {"started_at", ts(started)}, {"completed_at", ts(completed)}})
	}
	return out
}

// executionTime is the run time in seconds, rounded to the millisecond.
func executionTime(from, to time.Time) float64 {
	return math.Round(to.Sub(from).Seconds()*1000) / 1000
}

// workflowRoute answers /api/v1/workflows…: GET list, GET schema, POST run,
// GET status, POST cancel. The key goes in the "key" header. Unknown paths
// and methods are 404 like everything else the sandbox does not know.
func (s *Server) workflowRoute(w http.ResponseWriter, r *http.Request, c *call) string {
	segs := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/api/v1/workflows"), "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	post := r.Method == http.MethodPost
	var handle func() string
	var execID int64
	switch {
	case len(segs) == 0 && get:
		handle = func() string { return s.wfList(w, c) }
	case len(segs) == 1 && get:
		handle = func() string { return s.wfSchema(w, c, segs[0]) }
	case len(segs) == 2 && segs[1] == "run" && post:
		handle = func() string { return s.wfRun(w, c, segs[0]) }
	case len(segs) == 3 && segs[1] == "runs" && get,
		len(segs) == 4 && segs[1] == "runs" && segs[3] == "cancel" && post:
		n, err := strconv.ParseInt(segs[2], 10, 64)
		if err != nil {
			n = -1 // unknown execution
		}
		execID = n
		if len(segs) == 3 {
			handle = func() string { return s.wfStatus(w, c, segs[0], execID) }
		} else {
			handle = func() string { return s.wfCancel(w, c, segs[0], execID) }
		}
	}
	if handle == nil {
		notFound(w)
		return ""
	}
	key := r.Header.Get("key")
	if key == "" || (s.opts.Key != "" && key != s.opts.Key) {
		if len(segs) == 2 && segs[1] == "run" {
			s.mu.Lock()
			s.stats.Submits++
			s.mu.Unlock()
		}
		writePHP(w, http.StatusUnauthorized, object{{"status", "error"}, {"message", "Invalid API key"}})
		return "no or wrong key header"
	}
	return handle()
}

func wfNotFound(w http.ResponseWriter) string {
	writePHP(w, http.StatusNotFound, object{{"status", "error"}, {"message", "Workflow not found or not enabled for API access."}})
	return "unknown workflow"
}

func (s *Server) wfList(w http.ResponseWriter, c *call) string {
	s.mu.Lock()
	list := make([]object, 0, len(workflowDefs))
	for _, wf := range workflowDefs {
		var calls int
		var last any
		if u := s.wfCalls[wf.id]; u != nil {
			calls, last = u.calls, timestamp(u.last)
		}
		list = append(list, object{
			{"id", wf.id},
			{"name", wf.name},
			{"description", wf.description},
			{"rate_limit", wfRateLimit},
			{"call_count", calls},
			{"last_called_at", last},
			{"created_at", timestamp(wf.created)},
			{"updated_at", timestamp(wf.updated)},
		})
	}
	s.mu.Unlock()
	writePHP(w, http.StatusOK, object{{"status", "success"}, {"workflows", list}})
	return ""
}

func (s *Server) wfSchema(w http.ResponseWriter, c *call, id string) string {
	wf := workflowByID(id)
	if wf == nil {
		return wfNotFound(w)
	}
	params := make([]object, 0, len(wf.params))
	for _, p := range wf.params {
		params = append(params, object{
			{"key", p.key}, {"type", p.typ}, {"required", p.required}, {"node_id", p.nodeID}, {"node_name", p.nodeName},
		})
	}
	base := c.base + "/api/v1/workflows/" + wf.id
	writePHP(w, http.StatusOK, object{
		{"status", "success"},
		{"workflow", object{
			{"id", wf.id},
			{"name", wf.name},
			{"description", wf.description},
			{"rate_limit", wfRateLimit},
			{"webhook_url", nil},
		}},
		{"parameters", params},
		{"endpoints", object{{"run", base + "/run"}, {"status", base + "/runs/{id}"}}},
	})
	return ""
}

func (s *Server) wfRun(w http.ResponseWriter, c *call, id string) string {
	s.mu.Lock()
	s.stats.Submits++
	s.mu.Unlock()
	if c.bodyErr {
		writePHP(w, http.StatusBadRequest, object{{"status", "error"}, {"message", "Invalid API Request"}, {"tip", tipLegacy}})
		return ""
	}
	wf := workflowByID(id)
	if wf == nil {
		return wfNotFound(w)
	}
	var errs object
	for _, p := range wf.params {
		if v, ok := c.body[p.key]; p.required && (!ok || v == nil || (isString(v) && strings.TrimSpace(str(v)) == "")) {
			errs = append(errs, field{p.key, []string{"The " + p.key + " field is required."}})
		}
	}
	if errs != nil {
		msg := errs[0].v.([]string)[0]
		if len(errs) > 1 {
			msg += fmt.Sprintf(" (and %d more error", len(errs)-1)
			if len(errs) > 2 {
				msg += "s"
			}
			msg += ")"
		}
		writePHP(w, http.StatusUnprocessableEntity, object{{"status", "error"}, {"message", msg}, {"errors", errs}})
		return "invalid"
	}

	now := time.Now()
	e := &execution{
		wf:      wf,
		base:    c.base,
		created: now,
		end:     "completed",
	}
	if s.opts.CancelWorkflows {
		e.end = "cancelled"
	}
	if s.opts.Fail {
		e.end = "failed"
		e.errorMsg = wfDefaultFailText
		if s.failMsgSet {
			e.errorMsg = s.opts.FailMessage
		}
	}
	if wh, ok := c.body["webhook"].(string); ok {
		e.webhook = strings.TrimSpace(wh)
	}
	for _, p := range wf.params { // schema order first, then the rest
		if v, ok := c.body[p.key]; ok {
			e.input = append(e.input, field{p.key, v})
		}
	}
	for _, k := range sortedKeys(c.body) {
		if k != "webhook" && k != "key" && wf.param(k) == nil {
			e.input = append(e.input, field{k, c.body[k]})
		}
	}
	if e.input == nil {
		e.input = object{}
	}

	s.mu.Lock()
	if s.refuseLocked(w, now, false) {
		return "rate limited"
	}
	e.id = s.nextExec
	s.nextExec++
	e.fate = s.fateOf(fmt.Sprintf("execution %d", e.id))
	e.runAt, e.doneAt = now.Add(e.fate.dur/10), now.Add(e.fate.dur)
	s.execs[e.id] = e
	s.stats.Jobs++
	u := s.wfCalls[wf.id]
	if u == nil {
		u = &wfUsage{}
		s.wfCalls[wf.id] = u
	}
	u.calls++
	u.last = now
	if s.planHookLocked(fmt.Sprintf("execution %d", e.id), e.webhook, e.fate) {
		s.armWorkflowLocked(e, s.hookWaitLocked(e.doneAt, e.fate))
	}
	s.mu.Unlock()

	var webhook any
	if e.webhook != "" {
		webhook = e.webhook
	}
	writePHP(w, http.StatusAccepted, object{
		{"status", "success"},
		{"message", "Workflow execution started."},
		{"execution_id", e.id},
		{"workflow_id", wf.id},
		{"status_url", fmt.Sprintf("%s/api/v1/workflows/%s/runs/%d", c.base, wf.id, e.id)},
		{"webhook_url", webhook},
	})
	return fmt.Sprintf("execution %d", e.id)
}

func (wf *workflowDef) param(k string) *wfParam {
	for i := range wf.params {
		if wf.params[i].key == k {
			return &wf.params[i]
		}
	}
	return nil
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// armWorkflowLocked schedules the one webhook of e. It is sent when it
// fires unless one was already sent; the body reflects the state then.
// The caller holds s.mu.
func (s *Server) armWorkflowLocked(e *execution, wait time.Duration) {
	s.armLocked(fmt.Sprintf("execution-%d", e.id), wait, func() {
		s.mu.Lock()
		if e.hookSent {
			s.mu.Unlock()
			return
		}
		e.hookSent = true
		payload := s.wfWebhookLocked(e, time.Now())
		s.mu.Unlock()
		s.send(fmt.Sprintf("execution %d", e.id), e.webhook, payload, e.fate.dup, nil)
	})
}

// wfWebhookLocked builds the webhook body of e in the configured shape.
func (s *Server) wfWebhookLocked(e *execution, now time.Time) object {
	state, ended := e.state(now)
	if !terminal(state) { // cannot happen: the webhook fires at the end
		state, ended = e.end, e.doneAt
	}
	event := "workflow." + state
	out := []string{e.outputURL(false)}
	if s.opts.WorkflowWebhookShape == "nested" {
		ex := object{
			{"id", e.id},
			{"status", state},
			{"started_at", timestamp(e.created)},
			{"completed_at", timestamp(ended)},
			{"execution_time", executionTime(e.created, ended)},
			{"input_data", e.input},
		}
		switch state {
		case "completed":
			ex = append(ex, field{"output_data", object{{"images", out}}})
		case "failed":
			ex = append(ex, field{"output_data", nil}, field{"error", e.errorMsg})
		default:
			ex = append(ex, field{"output_data", nil})
		}
		return object{
			{"event", event},
			{"workflow", object{{"id", e.wf.id}, {"name", e.wf.name}, {"user_id", 12345}}},
			{"execution", ex},
		}
	}
	p := object{
		{"event", event},
		{"execution_id", e.id},
		{"workflow_id", e.wf.id},
		{"status", state},
	}
	switch state {
	case "completed":
		p = append(p, field{"output", object{{"output", out}}})
	case "failed":
		p = append(p, field{"output", nil}, field{"error", e.errorMsg})
	default:
		p = append(p, field{"output", nil})
	}
	return append(p, field{"completed_at", timestamp(ended)})
}

// execFor finds execution id of workflow wfID, answering 404 when there
// is none.
func (s *Server) execFor(w http.ResponseWriter, wfID string, id int64) *execution {
	if workflowByID(wfID) == nil {
		wfNotFound(w)
		return nil
	}
	s.mu.Lock()
	e := s.execs[id]
	s.mu.Unlock()
	if e == nil || e.wf.id != wfID {
		writePHP(w, http.StatusNotFound, object{{"status", "error"}, {"message", "Execution not found."}})
		return nil
	}
	return e
}

func (s *Server) wfStatus(w http.ResponseWriter, c *call, wfID string, id int64) string {
	if note, failed := s.fetchFault(w); failed {
		return note
	}
	e := s.execFor(w, wfID, id)
	if e == nil {
		return "unknown execution"
	}
	s.mu.Lock()
	now := time.Now()
	state, ended := e.state(now)
	steps := e.steps(now, state, ended)
	s.mu.Unlock()

	var started, completed, took any
	if state != "pending" {
		started = timestamp(e.created)
	}
	if terminal(state) {
		completed, took = timestamp(ended), executionTime(e.created, ended)
	}
	ans := object{
		{"status", "success"},
		{"execution", object{
			{"id", e.id},
			{"workflow_id", e.wf.id},
			{"status", state},
			{"started_at", started},
			{"completed_at", completed},
			{"execution_time", took},
		}},
	}
	switch state {
	case "completed":
		ans = append(ans, field{"output", object{
			{"output", []string{e.outputURL(false)}},
			{"proxy_links", []string{e.outputURL(true)}},
			{"status", "success"},
		}})
	case "failed":
		ans = append(ans, field{"error", e.errorMsg})
	}
	ans = append(ans, field{"steps", steps})
	writePHP(w, http.StatusOK, ans)
	return fmt.Sprintf("execution %d, %s", id, state)
}

func (s *Server) wfCancel(w http.ResponseWriter, c *call, wfID string, id int64) string {
	e := s.execFor(w, wfID, id)
	if e == nil {
		return "unknown execution"
	}
	s.mu.Lock()
	now := time.Now()
	state, _ := e.state(now)
	if terminal(state) {
		s.mu.Unlock()
		writePHP(w, http.StatusBadRequest, object{{"status", "error"}, {"message", "Execution is already " + state + " and cannot be cancelled."}})
		return fmt.Sprintf("execution %d already %s", id, state)
	}
	e.cancelledAt = now
	name := fmt.Sprintf("execution-%d", e.id)
	// Send the cancelled webhook now instead of at the planned end. If the
	// planned timer already fired, its callback sends the cancelled body.
	if s.disarmLocked(name) && !e.hookSent {
		s.armWorkflowLocked(e, s.hookWaitLocked(now, e.fate))
	}
	s.mu.Unlock()
	writePHP(w, http.StatusOK, object{{"status", "success"}, {"message", wfCancelledText}})
	return fmt.Sprintf("execution %d cancelled", id)
}

// serveWorkflowOutput serves GET /workflow-outputs/<exec>-0.png (and under
// /proxy): 404 unless the execution completed.
func (s *Server) serveWorkflowOutput(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	probe, answered := s.probeGate(w, r)
	if answered {
		return
	}
	name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	idStr, ok := strings.CutSuffix(name, "-0.png")
	id, err := strconv.ParseInt(idStr, 10, 64)
	if !ok || err != nil {
		notFound(w)
		return
	}
	s.mu.Lock()
	e := s.execs[id]
	var state string
	var ended time.Time
	if e != nil {
		state, ended = e.state(time.Now())
	}
	s.mu.Unlock()
	if e == nil || state != "completed" {
		notFound(w)
		return
	}
	data, err := renderPNG(-e.id, 0)
	if err != nil {
		writePHP(w, http.StatusInternalServerError, object{{"status", "error"}, {"message", err.Error()}})
		return
	}
	w.Header().Set("Content-Type", kindPNG.contentType)
	sw := &statusWriter{ResponseWriter: w}
	http.ServeContent(sw, r, name, ended, strings.NewReader(string(data)))
	s.served(probe, r, sw.status)
}
