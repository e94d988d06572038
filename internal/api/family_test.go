package api

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func decodeForPayload(t testing.TB, ep Endpoint, name string) *Response {
	t.Helper()
	r, err := DecodeFor(ep, readPayload(t, name))
	if err != nil {
		t.Fatalf("DecodeFor(%s, %s): %v", ep.Name, name, err)
	}
	return r
}

type familyWant struct {
	state   State
	status  string
	id      string
	stage   string
	output  []string
	proxy   []string
	message string // exact unless msgSub
	msgSub  bool
	logs    string // prefix
	modelID string
	fetch   string
}

func checkFamily(t *testing.T, r *Response, w familyWant) {
	t.Helper()
	if r.State() != w.state || r.Status != w.status {
		t.Errorf("State/Status = %v/%q, want %v/%q", r.State(), r.Status, w.state, w.status)
	}
	if r.ID != w.id || r.Stage != w.stage || r.ModelID != w.modelID || r.FetchURL != w.fetch {
		t.Errorf("ID %q Stage %q ModelID %q FetchURL %q; want %q %q %q %q", r.ID, r.Stage, r.ModelID, r.FetchURL, w.id, w.stage, w.modelID, w.fetch)
	}
	if w.output == nil {
		w.output = []string{}
	}
	if w.proxy == nil {
		w.proxy = []string{}
	}
	if !reflect.DeepEqual(r.Output, w.output) || !reflect.DeepEqual(r.ProxyLinks, w.proxy) {
		t.Errorf("Output %q Proxy %q; want %q %q", r.Output, r.ProxyLinks, w.output, w.proxy)
	}
	if r.FutureLinks == nil {
		t.Error("nil FutureLinks")
	}
	if w.msgSub && !strings.Contains(r.Message, w.message) || !w.msgSub && r.Message != w.message {
		t.Errorf("Message = %q, want %q (substring %v)", r.Message, w.message, w.msgSub)
	}
	if !strings.HasPrefix(r.Logs, w.logs) || (w.logs == "" && r.Logs != "") {
		t.Errorf("Logs = %q, want prefix %q", r.Logs, w.logs)
	}
}

// familyCase is one DecodeFor table row: body is a payload file name, or a
// literal body starting with "{".
type familyCase struct {
	name string
	body string
	want familyWant
}

func runFamily(t *testing.T, ep Endpoint, tests []familyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *Response
			if strings.HasPrefix(tt.body, "{") {
				var err error
				if r, err = DecodeFor(ep, []byte(tt.body)); err != nil {
					t.Fatal(err)
				}
			} else {
				r = decodeForPayload(t, ep, tt.body)
			}
			checkFamily(t, r, tt.want)
		})
	}
}

func TestDecodeForTraining(t *testing.T) {
	ep := mustLookup(t, "lora_fine_tune")
	tests := []familyCase{
		{"submit answer", "lora_fine_tune.response.success.json", familyWant{
			state: StateProcessing, status: "processing", id: "F5jvdzGnYi", modelID: "F5jvdzGnYi",
			stage: "deploying_gpu", message: "deploying_gpu", logs: "it will take upto 30 minutes.",
		}},
		{"webhook deploying_gpu", "lora_fine_tune.webhook.json", familyWant{
			state: StateProcessing, status: "processing", id: "F5jvdzGnYi", modelID: "F5jvdzGnYi",
			stage: "deploying_gpu", message: "deploying_gpu", logs: "it will take upto 25 minutes",
		}},
		{"fine_tune_status model_ready", "fine_tune_status.response.success.json", familyWant{
			state: StateSuccess, status: "success", stage: "model_ready", message: "model_ready",
			logs: "/n Step:1 Training Started",
		}},
		{"list is not a stage", "finetune_list.response.success.json", familyWant{
			state: StateProcessing, status: "processing", message: "model list",
		}},
		{"synthetic failed training", `{"status":"error","messege":"training_failed","data":"step 3 ... CUDA out of memory"}`, familyWant{
			state: StateFailed, status: "failed", stage: "training_failed",
			message: "training_failed: step 3 ... CUDA out of memory", logs: "step 3 ... CUDA out of memory",
		}},
		{"failure stage with outer success", `{"status":"success","training_status":"Training_Error","logs":"boom","model_id":"m1"}`, familyWant{
			state: StateFailed, status: "failed", stage: "training_error", id: "m1", modelID: "m1",
			message: "training_error: boom", logs: "boom",
		}},
		{"auth error", `{"status":"error","message":"Invalid Api Key"}`, familyWant{
			state: StateFailed, status: "failed", message: "Invalid Api Key",
		}},
		{"intermediate stage", `{"status":"success","messege":"trained_model_uploading","data":"x"}`, familyWant{
			state: StateProcessing, status: "processing", stage: "trained_model_uploading", message: "trained_model_uploading", logs: "x",
		}},
		{"training_success is not the end", `{"status":"success","training_status":"training_success","training_id":"T1","model_id":"M1"}`, familyWant{
			state: StateProcessing, status: "processing", stage: "training_success", message: "training_success", id: "T1", modelID: "M1",
		}},
	}
	runFamily(t, ep, tests)
}

func TestDecodeForWorkflow(t *testing.T) {
	ep := mustLookup(t, "workflow_run")
	tests := []familyCase{
		{"run answer", "workflows.run.response.json", familyWant{
			state: StateProcessing, status: "processing", id: "12345", message: "Workflow execution started.",
			fetch: "https://modelslab.com/api/v1/workflows/uuid-string/runs/12345",
		}},
		{"running", "workflows.status.response.running.json", familyWant{
			state: StateProcessing, status: "processing", id: "12345", stage: "running",
		}},
		{"completed", "workflows.status.response.completed.json", familyWant{
			state: StateSuccess, status: "success", id: "12345", stage: "completed",
			output: []string{"https://cdn.modelslab.com/generated/image1.png"},
			proxy:  []string{"https://cdn.modelslab.com/proxy/image1.png"},
		}},
		{"failed", "workflows.status.response.failed.json", familyWant{
			state: StateFailed, status: "failed", id: "12345", stage: "failed",
			message: "Image generation failed: Invalid prompt",
		}},
		{"flat webhook", "workflows.webhook.overview.json", familyWant{
			state: StateSuccess, status: "success", id: "12345", stage: "completed",
			output: []string{"https://cdn.modelslab.com/generated/image1.png"},
		}},
		{"nested webhook", "workflows.webhook.webhooks-page.json", familyWant{
			state: StateSuccess, status: "success", id: "exec_xyz789", stage: "completed",
			output: []string{"https://..."},
		}},
		{"cancelled", `{"status":"success","execution":{"id":7,"status":"cancelled"}}`, familyWant{
			state: StateFailed, status: "failed", id: "7", stage: "cancelled",
		}},
		{"pending", `{"status":"success","execution":{"id":"7","status":"PENDING"}}`, familyWant{
			state: StateProcessing, status: "processing", id: "7", stage: "pending",
		}},
		{"unknown stage keeps polling", `{"status":"success","execution":{"id":7,"status":"paused"}}`, familyWant{
			state: StateUnknown, status: "", id: "7", stage: "paused",
		}},
		{"cancel answer is not a job state", "workflows.cancel.response.json", familyWant{
			state: StateUnknown, status: "", message: "Execution cancelled.",
		}},
		{"404 body", `{"status":"error","message":"Workflow not found or not API-enabled."}`, familyWant{
			state: StateFailed, status: "failed", message: "Workflow not found or not API-enabled.",
		}},
		{"422 laravel", `{"message":"The given data was invalid.","errors":{"prompt":["The prompt field is required."]}}`, familyWant{
			state: StateUnknown, status: "", message: "prompt: The prompt field is required.",
		}},
		{"error object", `{"status":"success","execution":{"id":1,"status":"failed"},"error":{"node-1":"CUDA OOM"}}`, familyWant{
			state: StateFailed, status: "failed", id: "1", stage: "failed", message: "node-1: CUDA OOM",
		}},
		{"urls everywhere, in order, once", `{"status":"success","execution":{"id":1,"status":"completed",
			"output_data":{"b":["https://x/2.png","https://x/1.png"],"n":3,"s":"not a url","ftp":"ftp://x/3"}},
			"output":{"z":"https://x/1.png","meta":{"init_image":"https://in/put.png"},"v":[{"u":"HTTP://x/4.mp4"}],"future_links":["https://x/f.png"]},
			"output_data":"https:\/\/x\/5.png"}`, familyWant{
			state: StateSuccess, status: "success", id: "1", stage: "completed",
			output: []string{"https://x/1.png", "HTTP://x/4.mp4", "https://x/5.png", "https://x/2.png"},
		}},
	}
	runFamily(t, ep, tests)
}

func TestDecodeForFutureLinksInWorkflowOutput(t *testing.T) {
	r, err := DecodeFor(mustLookup(t, "workflow_run"), []byte(`{"execution":{"status":"running"},"output":{"future_links":["https://x/f.png"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.FutureLinks, []string{"https://x/f.png"}) || len(r.Output) != 0 || r.State() != StateProcessing {
		t.Errorf("got %+v", r)
	}
}

// TestDecodeForGenerationIsDecode: the generation family (every old row) is
// exactly Decode, and the other families never fail where Decode succeeds.
func TestDecodeForGenerationIsDecode(t *testing.T) {
	gen := mustLookup(t, "text2img")
	train := mustLookup(t, "fine_tune")
	wf := mustLookup(t, "workflow_run")
	for _, f := range payloadFiles(t) {
		body := readPayload(t, filepath.Base(f))
		want, err := Decode(body)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got, err := DecodeFor(gen, body)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: DecodeFor(generation) = %+v, %v; Decode = %+v", f, got, err, want)
		}
		for _, ep := range []Endpoint{train, wf} {
			r, err := DecodeFor(ep, body)
			if err != nil {
				t.Errorf("%s: DecodeFor(%s): %v", f, ep.Family, err)
				continue
			}
			if r.Output == nil || r.ProxyLinks == nil || r.FutureLinks == nil || string(r.Raw) != string(body) {
				t.Errorf("%s: DecodeFor(%s) = %+v", f, ep.Family, r)
			}
		}
	}
	if _, err := DecodeFor(wf, []byte(`[1]`)); err == nil {
		t.Error("DecodeFor accepted a JSON array")
	}
}

func TestFamilyString(t *testing.T) {
	if FamilyGeneration.String() != "generation" || FamilyTraining.String() != "training" ||
		FamilyWorkflow.String() != "workflow" || Family(9).String() != "unknown" {
		t.Error("Family.String")
	}
	var zero Endpoint
	if zero.Family != FamilyGeneration {
		t.Error("the zero Family is not generation")
	}
}

func TestTrainingAndWorkflowRows(t *testing.T) {
	tests := []struct {
		name, kind, submit, fetch, method string
		family                            Family
		auth                              AuthStyle
		required, params                  []string
	}{
		{"lora_fine_tune", "train", "/api/v3/lora_fine_tune", "/api/v3/fine_tune_status/{id}", "",
			FamilyTraining, AuthBody, []string{"instance_prompt", "images"}, nil},
		{"fine_tune", "train", "/api/v3/fine_tune", "/api/v3/fine_tune_status/{id}", "",
			FamilyTraining, AuthBody, []string{"instance_prompt", "images"}, nil},
		{"workflow_run", "workflow", "/api/v1/workflows/{workflow_id}/run", "/api/v1/workflows/{workflow_id}/runs/{id}", "GET",
			FamilyWorkflow, AuthHeader, nil, []string{"workflow_id"}},
	}
	for _, tt := range tests {
		ep := mustLookup(t, tt.name)
		if ep.Kind != tt.kind || ep.SubmitPath != tt.submit || ep.FetchPath != tt.fetch || ep.FetchMethod != tt.method ||
			ep.Family != tt.family || ep.Auth != tt.auth || !reflect.DeepEqual(ep.Required, tt.required) {
			t.Errorf("%s = %+v", tt.name, ep)
		}
		if got := ep.PathParams(); !reflect.DeepEqual(got, tt.params) {
			t.Errorf("%s.PathParams() = %v, want %v", tt.name, got, tt.params)
		}
	}
	// Every generation row keeps the generation family and POST fetch.
	for _, ep := range Catalogue() {
		if ep.Kind != "train" && ep.Kind != "workflow" && (ep.Family != FamilyGeneration || ep.FetchMethod != "" || ep.PathParams() != nil) {
			t.Errorf("%s: family %v, fetch method %q, params %v", ep.Name, ep.Family, ep.FetchMethod, ep.PathParams())
		}
	}
}

func TestWithPathParams(t *testing.T) {
	ep := mustLookup(t, "workflow_run")
	got := ep.WithPathParams(map[string]string{"workflow_id": "a b/c", "id": "nope", "other": "x"})
	if got.SubmitPath != "/api/v1/workflows/a%20b%2Fc/run" || got.FetchPath != "/api/v1/workflows/a%20b%2Fc/runs/{id}" {
		t.Errorf("paths = %q, %q", got.SubmitPath, got.FetchPath)
	}
	if u := got.FetchURL("https://modelslab.com/", "12345"); u != "https://modelslab.com/api/v1/workflows/a%20b%2Fc/runs/12345" {
		t.Errorf("FetchURL = %q", u)
	}
	if got.PathParams() != nil {
		t.Errorf("params left: %v", got.PathParams())
	}
	if ep.SubmitPath != "/api/v1/workflows/{workflow_id}/run" {
		t.Error("WithPathParams changed the receiver")
	}
	if again, _ := Lookup("workflow_run"); again.SubmitPath != ep.SubmitPath {
		t.Error("WithPathParams changed the catalogue")
	}
	same := ep.WithPathParams(nil)
	if !reflect.DeepEqual(same, ep) {
		t.Errorf("WithPathParams(nil) = %+v", same)
	}
	multi := Endpoint{SubmitPath: "/a/{x}/b/{y}/{x}", FetchPath: "/f/{y}/{id}/{z}"}
	if p := multi.PathParams(); !reflect.DeepEqual(p, []string{"x", "y", "z"}) {
		t.Errorf("PathParams = %v", p)
	}
	part := multi.WithPathParams(map[string]string{"x": "1", "z": "3"})
	if part.SubmitPath != "/a/1/b/{y}/1" || part.FetchPath != "/f/{y}/{id}/3" {
		t.Errorf("partial = %q %q", part.SubmitPath, part.FetchPath)
	}
}
