package api

import (
	"bytes"
	"encoding/json"
	"strings"
)

// DecodeFor decodes body the way ep's family needs.
//
// FamilyGeneration is [Decode]. The other families are normalised onto the
// generation shape, so that [Response.State] drives a wait unchanged:
//
// Training (lora_fine_tune, fine_tune, fine_tune_status, training webhook):
// ID is training_id, else model_id, else id; ModelID is model_id, else
// training_id, else id; Stage is training_status, else messege/message when
// it looks like a stage word (lower case, no spaces, e.g. "deploying_gpu");
// Logs is data, else logs. Status is "failed" when the outer status is
// error/failed or the stage contains "fail" or "error", "success" when the
// stage is model_ready, else "processing". Message is the stage; for a
// failure it is the outer message (or the stage) followed by the logs.
//
// Workflow (run answer, runs/{id}, both documented webhook shapes): ID is
// execution_id, else execution.id; Stage is execution.status, else the
// top-level status when it is a workflow state word (the flat webhook sends
// "status":"completed"). Status is "success" for completed, "failed" for
// failed/cancelled/canceled (or an outer error/failed), "processing" for
// pending/running/queued and for the run answer (outer success with an
// execution id), else "" (unknown: keep polling). FetchURL is status_url.
// Output is every http(s) URL string found under output, output_data,
// execution.output and execution.output_data, recursively, in order of
// appearance and without duplicates; URLs under "proxy_links" and
// "future_links" keys go to ProxyLinks and FutureLinks instead, and "meta",
// "fetch_result", "webhook", "webhook_url" and "status_url" subtrees are not
// results. Message is error (a string, or an object flattened), else
// execution.error, else message; a Laravel validation answer (422) gives its
// "errors" object flattened instead ("prompt: The prompt field is
// required.").
//
// Like Decode it fails only when body is not a JSON object.
func DecodeFor(ep Endpoint, body []byte) (*Response, error) {
	r, err := Decode(body)
	if err != nil {
		return nil, err
	}
	switch ep.Family {
	case FamilyTraining:
		decodeTraining(r)
	case FamilyWorkflow:
		decodeWorkflow(r)
	}
	return r, nil
}

// topLevel returns the body's members; Decode has already checked it is an
// object.
func topLevel(r *Response) map[string]json.RawMessage {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(r.Raw, []byte("\xef\xbb\xbf")))
	var top map[string]json.RawMessage
	_ = json.Unmarshal(trimmed, &top)
	return top
}

func firstText(top map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		if s := textOf(top[k]); s != "" {
			return s
		}
	}
	return ""
}

// isStageWord reports whether s looks like a training stage word:
// lower-case letters, digits, "_" and "-" only.
func isStageWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func decodeTraining(r *Response) {
	top := topLevel(r)
	outer := r.Status
	r.ID = firstText(top, "training_id", "model_id", "id")
	r.ModelID = firstText(top, "model_id", "training_id", "id")

	outerMsg := messageOf(top["messege"])
	if outerMsg == "" {
		outerMsg = messageOf(top["message"])
	}
	stage := strings.ToLower(strings.TrimSpace(textOf(top["training_status"])))
	if stage == "" && isStageWord(outerMsg) {
		stage = outerMsg
	}
	r.Stage = stage

	for _, k := range []string{"data", "logs"} {
		if kindOf(top[k]) == '"' {
			r.Logs = strings.TrimSpace(stringOf(top[k]))
		} else {
			r.Logs = messageOf(top[k])
		}
		if r.Logs != "" {
			break
		}
	}

	switch {
	case outer == "error" || outer == "failed" || strings.Contains(stage, "fail") || strings.Contains(stage, "error"):
		r.Status = "failed"
		head := outerMsg
		if head == "" {
			head = messageOf(top["error"])
		}
		if head == "" {
			head = stage
		}
		parts := make([]string, 0, 2)
		for _, p := range []string{head, r.Logs} {
			if p != "" && (len(parts) == 0 || parts[0] != p) {
				parts = append(parts, p)
			}
		}
		r.Message = strings.Join(parts, ": ")
	case stage == "model_ready":
		r.Status = "success"
		r.Message = stage
	default:
		r.Status = "processing"
		r.Message = stage
		if r.Message == "" {
			r.Message = outerMsg
		}
	}
}

// workflowState maps a workflow state word to a Status.
func workflowState(word string) (status string, known bool) {
	switch word {
	case "completed", "complete", "succeeded", "success":
		return "success", true
	case "failed", "error", "cancelled", "canceled":
		return "failed", true
	case "pending", "running", "queued", "processing", "started":
		return "processing", true
	}
	return "", false
}

// isTopLevelWorkflowState reports whether an outer status is a workflow
// state rather than the request's own "success"/"error".
func isTopLevelWorkflowState(s string) bool {
	switch s {
	case "pending", "running", "queued", "completed", "failed", "cancelled", "canceled":
		return true
	}
	return false
}

func decodeWorkflow(r *Response) {
	top := topLevel(r)
	outer := r.Status
	var exec map[string]json.RawMessage
	if kindOf(top["execution"]) == '{' {
		_ = json.Unmarshal(top["execution"], &exec)
	}

	r.ID = textOf(top["execution_id"])
	if r.ID == "" {
		r.ID = textOf(exec["id"])
	}
	stage := strings.ToLower(strings.TrimSpace(textOf(exec["status"])))
	if stage == "" && isTopLevelWorkflowState(outer) {
		stage = outer
	}
	r.Stage = stage

	status, known := workflowState(stage)
	switch {
	case known:
	case outer == "error" || outer == "failed":
		status = "failed"
	case outer == "processing":
		status = "processing"
	case stage == "" && outer == "success" && r.ID != "":
		status = "processing" // the run answer: accepted, not started
	default:
		status = ""
	}
	r.Status = status

	r.FetchURL = strings.TrimSpace(stringOf(top["status_url"]))

	var urls urlSet
	urls.init()
	for _, raw := range []json.RawMessage{top["output"], top["output_data"], exec["output"], exec["output_data"]} {
		urls.walk(raw)
	}
	r.Output, r.ProxyLinks, r.FutureLinks = urls.output, urls.proxy, urls.future

	msg := messageOf(top["error"])
	if msg == "" {
		msg = messageOf(exec["error"])
	}
	if msg == "" {
		msg = messageOf(top["message"])
	}
	if msg == "" {
		msg = messageOf(top["messege"])
	}
	if errs := messageOf(top["errors"]); errs != "" && kindOf(top["error"]) != '"' {
		// A Laravel validation answer: "message" only summarises "errors"
		// ("The given data was invalid.", "… (and 2 more errors)").
		msg = errs
	}
	r.Message = msg
}

// urlSet collects http(s) URLs from arbitrary JSON, in order, without
// duplicates.
type urlSet struct {
	output, proxy, future []string
	seen                  [3]map[string]bool // per class
}

func (u *urlSet) init() {
	u.output, u.proxy, u.future = []string{}, []string{}, []string{}
	for i := range u.seen {
		u.seen[i] = map[string]bool{}
	}
}

const (
	classOutput = iota
	classProxy
	classFuture
)

// skippedKeys hold things that are not results (inputs, callbacks, echoes).
var skippedKeys = map[string]bool{
	"meta": true, "fetch_result": true, "webhook": true, "webhook_url": true, "status_url": true,
}

func (u *urlSet) walk(raw json.RawMessage) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = u.value(dec, classOutput)
}

// value consumes one JSON value from dec, collecting its URL strings.
func (u *urlSet) value(dec *json.Decoder, class int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := kt.(string)
				k := strings.ToLower(key)
				switch {
				case skippedKeys[k]:
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return err
					}
					continue
				case k == "proxy_links":
					err = u.value(dec, classProxy)
				case k == "future_links":
					err = u.value(dec, classFuture)
				default:
					err = u.value(dec, class)
				}
				if err != nil {
					return err
				}
			}
			_, err = dec.Token() // '}'
			return err
		case '[':
			for dec.More() {
				if err := u.value(dec, class); err != nil {
					return err
				}
			}
			_, err = dec.Token() // ']'
			return err
		}
	case string:
		u.add(t, class)
	}
	return nil
}

func (u *urlSet) add(s string, class int) {
	s = strings.TrimSpace(s)
	if !isHTTPURL(s) || u.seen[class][s] {
		return
	}
	u.seen[class][s] = true
	switch class {
	case classProxy:
		u.proxy = append(u.proxy, s)
	case classFuture:
		u.future = append(u.future, s)
	default:
		u.output = append(u.output, s)
	}
}

func isHTTPURL(s string) bool {
	l := strings.ToLower(s)
	for _, p := range []string{"http://", "https://"} {
		if strings.HasPrefix(l, p) && len(s) > len(p) && !strings.ContainsAny(s, " \t\r\n") {
			return true
		}
	}
	return false
}
