package api

import (
	"context"
	"net/http"
	"testing"
)

func TestWorkflowCalls(t *testing.T) {
	f := newFakeAPI(t,
		reply{code: 200, body: payloadString(t, "workflows.list.response.json")},
		reply{code: 200, body: payloadString(t, "workflows.schema.response.json")},
		reply{code: 200, body: payloadString(t, "workflows.cancel.response.json")},
	)
	c := newTestClient(f.srv.URL, &sleepRecorder{})
	ctx := context.Background()

	raw, err := c.ListWorkflows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list, err := DecodeWorkflows(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "uuid-string" || list[0].Name != "My Workflow" || list[0].CallCount != "150" ||
		list[0].Description != "Generates images with custom prompts" {
		t.Fatalf("workflows = %+v", list)
	}

	raw, err = c.ShowWorkflow(ctx, "a b/c")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := DecodeWorkflowSchema(raw)
	if err != nil {
		t.Fatal(err)
	}
	if schema.Workflow.ID != "uuid-string" || schema.Workflow.Name != "Image Generator" || len(schema.Parameters) != 3 {
		t.Fatalf("schema = %+v", schema)
	}
	if p := schema.Parameters[0]; p.Key != "prompt" || p.Type != "string" || !p.Required || p.NodeName != "Text to Image" {
		t.Fatalf("first parameter = %+v", p)
	}

	if _, err := c.CancelExecution(ctx, "wf-1", "12345"); err != nil {
		t.Fatal(err)
	}

	reqs := f.requests()
	want := []struct{ method, path string }{
		{http.MethodGet, "/api/v1/workflows"},
		{http.MethodGet, "/api/v1/workflows/a%20b%2Fc"},
		{http.MethodPost, "/api/v1/workflows/wf-1/runs/12345/cancel"},
	}
	if len(reqs) != len(want) {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, w := range want {
		if reqs[i].Method != w.method || reqs[i].Path != w.path || reqs[i].HeaderKey != testKey {
			t.Errorf("request %d = %s %s (header key %q), want %s %s", i, reqs[i].Method, reqs[i].Path, reqs[i].HeaderKey, w.method, w.path)
		}
	}
	if _, has := reqs[2].Body["key"]; has {
		t.Errorf("cancel sent the key in the body: %s", reqs[2].Raw)
	}
}

func TestWorkflowIDAsNumber(t *testing.T) {
	list, err := DecodeWorkflows([]byte(`{"workflows":[{"id":42,"name":"n"},{"name":"no id"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if list[0].ID != "42" || list[1].ID != "" || list[1].CallCount != "" {
		t.Fatalf("workflows = %+v", list)
	}
	if _, err := DecodeWorkflowSchema([]byte(`[1,2]`)); err == nil {
		t.Fatal("an array decoded as a schema")
	}
}
