package sandbox

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// trainingStages are the training states in the order a training walks
// them (the real API's words, see fine_tune_status).
var trainingStages = []string{
	"deploying_gpu",
	"training_started",
	"training_success",
	"trained_model_compressing",
	"trained_model_uploading",
	"trained_model_uploaded",
	"deploying_model",
	"model_ready",
}

// trainingLogs is the log line added when the stage of the same index is
// reached, worded like the real fine_tune_status data.
var trainingLogs = []string{
	"Deploying GPU, it will take upto 30 minutes",
	"Step:1 Training Started, 5 Steps to go : ETA : 30 minutes",
	"Step:2 Training Done, 4 Steps to go : ETA : 15 minutes",
	"Step:3 Model Compressing, 3 Steps to go : ETA : 12 minutes",
	"Step:3 Model Uploading, 3 Steps to go : ETA : 10 minutes",
	"Step:4 Model Uploaded, 2 Steps to go : ETA : 5 minutes",
	"Step:5 Deploying Model, 1 Steps to go : ETA : 2 minutes",
	"Model loaded successfully",
}

const (
	stageTrainingFailed = "training_failed"
	failAtStage         = 2 // a failing training fails right after training_started
	logSep              = " /n "
	defaultTrainingErr  = "CUDA out of memory"
	trainingIDChars     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// training is one fine-tune job. Its fields never change after creation.
type training struct {
	id             string
	op             string // lora_fine_tune or fine_tune
	instancePrompt string
	classPrompt    string
	baseModel      any // base_model_type (lora) or base_model_id (dreambooth), as sent
	trainingType   any
	created        time.Time
	step           time.Duration // time between two stages
	failed         bool
	failMsg        string
	webhook        string
	fate           fate // its webhooks all share it
}

// last is the index of the final stage: model_ready, or the failure.
func (t *training) last() int {
	if t.failed {
		return failAtStage
	}
	return len(trainingStages) - 1
}

// stageAt is the index of the stage reached at now.
func (t *training) stageAt(now time.Time) int {
	if t.step <= 0 {
		return t.last()
	}
	return min(int(now.Sub(t.created)/t.step), t.last())
}

// at is when stage i is reached.
func (t *training) at(i int) time.Time { return t.created.Add(time.Duration(i) * t.step) }

// status is the word of stage i.
func (t *training) status(i int) string {
	if t.failed && i == failAtStage {
		return stageTrainingFailed
	}
	return trainingStages[i]
}

// logs is the log text at stage i: every line so far, each led by " /n "
// like the real data field.
func (t *training) logs(i int) string {
	var b strings.Builder
	for k := 0; k <= i; k++ {
		b.WriteString(logSep)
		if t.failed && k == failAtStage {
			b.WriteString("Error: " + t.failMsg)
			break
		}
		b.WriteString(trainingLogs[k])
	}
	return b.String()
}

func newTrainingID() string {
	b := make([]byte, 10)
	for i := range b {
		b[i] = trainingIDChars[rand.IntN(len(trainingIDChars))]
	}
	return string(b)
}

// trainSubmit answers POST /api/v3/lora_fine_tune and /api/v3/fine_tune.
func (s *Server) trainSubmit(w http.ResponseWriter, c *call, op string) string {
	s.mu.Lock()
	s.stats.Submits++
	s.mu.Unlock()
	if s.authError(w, c) {
		return ""
	}
	var invalid object
	if strings.TrimSpace(str(c.body["instance_prompt"])) == "" {
		invalid = append(invalid, field{"instance_prompt", []string{"The instance prompt field is required."}})
	}
	images, _ := c.body["images"].([]any)
	n := 0
	for _, img := range images {
		if strings.TrimSpace(str(img)) != "" {
			n++
		}
	}
	if n == 0 {
		invalid = append(invalid, field{"images", []string{"The images field is required."}})
	}
	if invalid != nil {
		// Laravel validation errors: message is an object.
		writePHP(w, http.StatusBadRequest, object{{"status", "error"}, {"message", invalid}})
		return "invalid"
	}

	t := &training{
		op:             op,
		instancePrompt: str(c.body["instance_prompt"]),
		classPrompt:    str(c.body["class_prompt"]),
		trainingType:   c.body["training_type"],
		created:        time.Now(),
		failed:         s.opts.Fail,
		failMsg:        defaultTrainingErr,
	}
	if s.failMsgSet {
		t.failMsg = s.opts.FailMessage
	}
	if op == "fine_tune" {
		t.baseModel = c.body["base_model_id"]
	} else {
		t.baseModel = c.body["base_model_type"]
	}
	if wh, ok := c.body["webhook"].(string); ok {
		t.webhook = strings.TrimSpace(wh)
	}

	s.mu.Lock()
	if s.refuseLocked(w, t.created, false) {
		return "rate limited"
	}
	for t.id == "" || s.trainings[t.id] != nil {
		t.id = newTrainingID()
	}
	t.fate = s.fateOf("training " + t.id)
	t.step = t.fate.dur / time.Duration(len(trainingStages)-1)
	s.trainings[t.id] = t
	s.trainOrder = append(s.trainOrder, t)
	s.stats.Jobs++
	if s.planHookLocked("training "+t.id, t.webhook, t.fate) {
		s.armTrainingLocked(t, 0)
	}
	s.mu.Unlock()

	writePHP(w, http.StatusOK, object{
		{"status", "success"},
		{"messege", trainingStages[0]},
		{"data", "it will take upto 30 minutes."},
		{"training_id", t.id},
	})
	return "training " + t.id
}

// armTrainingLocked schedules the webhook of stage i of t; after it is
// sent, the next stage's is armed, so a receiver gets the stages in order.
// The caller holds s.mu.
func (s *Server) armTrainingLocked(t *training, i int) {
	s.armLocked("training-"+t.id, s.hookWaitLocked(t.at(i), t.fate), func() {
		status := "success"
		if t.failed && i == failAtStage {
			status = "failed"
		}
		s.send("training "+t.id, t.webhook, object{
			{"status", status},
			{"training_status", t.status(i)},
			{"logs", t.logs(i)},
			{"model_id", t.id},
		}, t.fate.dup, nil)
		if i < t.last() && s.ctx.Err() == nil {
			s.mu.Lock()
			s.armTrainingLocked(t, i+1)
			s.mu.Unlock()
		}
	})
}

// trainStatus answers POST /api/v3/fine_tune_status/{id}.
func (s *Server) trainStatus(w http.ResponseWriter, c *call, id string) string {
	if note, failed := s.fetchFault(w); failed {
		return note
	}
	s.mu.Lock()
	t := s.trainings[id]
	s.mu.Unlock()
	if s.authError(w, c) {
		return ""
	}
	if t == nil {
		writePHP(w, http.StatusOK, object{{"status", "error"}, {"messege", "Training not found"}})
		return "unknown training"
	}
	i := t.stageAt(time.Now())
	status := "success"
	if t.failed && i == failAtStage {
		status = "error"
	}
	writePHP(w, http.StatusOK, object{{"status", status}, {"messege", t.status(i)}, {"data", t.logs(i)}})
	return "training " + id + ", " + t.status(i)
}

// trainList answers POST /api/v3/finetune_list with every training so far.
func (s *Server) trainList(w http.ResponseWriter, c *call) string {
	if s.authError(w, c) {
		return ""
	}
	now := time.Now()
	s.mu.Lock()
	list := make([]object, 0, len(s.trainOrder))
	for _, t := range s.trainOrder {
		list = append(list, object{
			{"training_id", t.id},
			{"model_id", t.id},
			{"type", t.op},
			{"status", t.status(t.stageAt(now))},
			{"instance_prompt", t.instancePrompt},
			{"class_prompt", t.classPrompt},
			{"base_model", t.baseModel},
			{"training_type", t.trainingType},
			{"created_at", timestamp(t.created)},
		})
	}
	s.mu.Unlock()
	writePHP(w, http.StatusOK, object{{"status", "success"}, {"messege", "model list"}, {"data", list}})
	return ""
}

// timestamp writes t like the workflow API: 2024-01-15T10:30:00Z.
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}
