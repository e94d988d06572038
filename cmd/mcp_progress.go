package cmd

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpProgress is the runner.Observer of a tool call: it turns the wait's
// events into MCP progress notifications (when the client gave a progress
// token), and while the job runs it reports every mcpServer.every how long
// it has waited against the API's eta. Progress counts the seconds since
// the call began; Total, while the eta holds, is when the job should end.
type mcpProgress struct {
	ctx   context.Context
	ss    *mcp.ServerSession
	token any
	f     *Factory // redaction
	every time.Duration
	begun time.Time

	sendMu sync.Mutex // notifications go out one at a time, in order
	last   float64

	mu       sync.Mutex
	what     string // "text2img job 123"
	phase    string
	stage    string
	eta      time.Duration
	waitFrom time.Time
	stopc    chan struct{}
	done     chan struct{}
	stopped  bool
}

// progress is the observer of this call.
func (c *mcpCall) progress(ctx context.Context) *mcpProgress {
	p := &mcpProgress{ctx: ctx, f: c.cf, every: c.s.every, begun: time.Now(), phase: "waiting"}
	if c.req != nil && c.req.Params != nil {
		p.ss, p.token = c.req.Session, c.req.Params.GetProgressToken()
	}
	return p
}

func (p *mcpProgress) enabled() bool { return p.token != nil && p.ss != nil }

// send notifies the client; a notification that cannot be sent is dropped
// (the client went away: the wait ends with the call).
func (p *mcpProgress) send(msg string) {
	if !p.enabled() {
		return
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	now := time.Since(p.begun).Seconds()
	if now <= p.last {
		now = p.last + 0.001 // it must grow with every notification
	}
	p.last = now
	var total float64
	p.mu.Lock()
	if p.eta > 0 && !p.waitFrom.IsZero() {
		if end := p.waitFrom.Add(p.eta).Sub(p.begun).Seconds(); end > now {
			total = end
		}
	}
	p.mu.Unlock()
	_ = p.ss.NotifyProgress(p.ctx, &mcp.ProgressNotificationParams{ProgressToken: p.token, Message: mcpRedact(p.f, msg), Progress: now, Total: total})
}

func (p *mcpProgress) Submitted(j *runner.Job, eta float64, waitingFor string) {
	p.mu.Lock()
	p.what = j.Endpoint.Name + " job " + output.Safe(j.ID)
	p.eta = time.Duration(max(eta, 0) * float64(time.Second))
	p.waitFrom = time.Now()
	start := p.stopc == nil && !p.stopped && p.enabled() && p.every > 0
	if start {
		p.stopc, p.done = make(chan struct{}), make(chan struct{})
	}
	stopc, done := p.stopc, p.done
	p.mu.Unlock()
	verb := "submitted"
	if j.Entry != nil {
		verb = "resuming"
	}
	p.send(fmt.Sprintf("%s %s job %s (track_id %s, eta %s)%s. If this call is cancelled the job goes on: the wait tool picks it up by id",
		verb, j.Endpoint.Name, output.Safe(j.ID), output.Safe(j.TrackID), output.FormatSeconds(eta), waitingFor))
	if start {
		go p.tick(stopc, done)
	}
}

// tick reports the wait every p.every until stopc is closed.
func (p *mcpProgress) tick(stopc, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-stopc:
			return
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.send(p.line())
		}
	}
}

// line says where the wait stands: phase, stage, elapsed against the eta.
func (p *mcpProgress) line() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := time.Since(p.waitFrom)
	s := fmt.Sprintf("%s: %s, %s", p.what, p.phase, output.FormatDuration(elapsed))
	switch {
	case p.eta <= 0:
	case elapsed <= p.eta:
		s += " of an eta of " + output.FormatDuration(p.eta)
	default:
		s += ", past the eta of " + output.FormatDuration(p.eta)
	}
	if p.stage != "" {
		s += " (stage " + output.Safe(p.stage) + ")"
	}
	return s
}

func (p *mcpProgress) Progress(_ *runner.Job, pr job.Progress) {
	p.mu.Lock()
	changed := pr.Phase != p.phase || (pr.Stage != "" && pr.Stage != p.stage)
	if pr.Phase != "" {
		p.phase = pr.Phase
	}
	if pr.Stage != "" {
		p.stage = pr.Stage
	}
	if pr.ETA > 0 {
		p.eta = pr.ETA
	}
	p.mu.Unlock()
	if changed {
		p.send(p.line())
	}
}

func (p *mcpProgress) Notice(_ *runner.Job, n runner.Notice) {
	if n.Warn {
		p.send("warning: " + output.Safe(n.Text))
		return
	}
	p.send(output.Safe(n.Text))
}

func (p *mcpProgress) Finished(*runner.Job, *runner.Outcome, error) { p.stop() }

// stop ends the ticking; it is idempotent.
func (p *mcpProgress) stop() {
	p.mu.Lock()
	stopc, done, already := p.stopc, p.done, p.stopped
	p.stopped = true
	p.mu.Unlock()
	if already || stopc == nil {
		return
	}
	close(stopc)
	<-done
}
