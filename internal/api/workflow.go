package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The workflow calls that are not jobs: list, show (the parameter schema)
// and cancel. Running a workflow is the workflow_run catalogue row. Each
// returns the API's answer as sent (for --json) and is decoded for people
// by [DecodeWorkflows] and [DecodeWorkflowSchema].

// ListWorkflows asks for the account's API-enabled workflows.
func (c *Client) ListWorkflows(ctx context.Context) (json.RawMessage, error) {
	return c.Call(ctx, http.MethodGet, "/api/v1/workflows", AuthHeader, nil)
}

// ShowWorkflow asks for one workflow and its parameters.
func (c *Client) ShowWorkflow(ctx context.Context, workflowID string) (json.RawMessage, error) {
	return c.Call(ctx, http.MethodGet, "/api/v1/workflows/"+url.PathEscape(workflowID), AuthHeader, nil)
}

// CancelExecution cancels a running execution of a workflow.
func (c *Client) CancelExecution(ctx context.Context, workflowID, executionID string) (json.RawMessage, error) {
	path := fmt.Sprintf("/api/v1/workflows/%s/runs/%s/cancel", url.PathEscape(workflowID), url.PathEscape(executionID))
	return c.Call(ctx, http.MethodPost, path, AuthHeader, map[string]any{})
}

// Workflow is one workflow as list and show describe it.
type Workflow struct {
	ID          string      `json:"-"` // as text, whether the API sent a string or a number (see UnmarshalJSON)
	Name        string      `json:"name"`
	Description string      `json:"description"`
	CallCount   json.Number `json:"call_count"` // "" when not given
}

// UnmarshalJSON reads the id as text.
func (w *Workflow) UnmarshalJSON(b []byte) error {
	type plain Workflow
	var v struct {
		plain
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*w = Workflow(v.plain)
	w.ID = strings.Trim(string(v.ID), `"`)
	return nil
}

// WorkflowParam is one parameter of a workflow's schema.
type WorkflowParam struct {
	Key      string `json:"key"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
	NodeName string `json:"node_name"`
}

// WorkflowSchema is what [Client.ShowWorkflow] answers.
type WorkflowSchema struct {
	Workflow   Workflow        `json:"workflow"`
	Parameters []WorkflowParam `json:"parameters"`
}

// DecodeWorkflows decodes a [Client.ListWorkflows] answer.
func DecodeWorkflows(raw json.RawMessage) ([]Workflow, error) {
	var list struct {
		Workflows []Workflow `json:"workflows"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	return list.Workflows, nil
}

// DecodeWorkflowSchema decodes a [Client.ShowWorkflow] answer.
func DecodeWorkflowSchema(raw json.RawMessage) (*WorkflowSchema, error) {
	var s WorkflowSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
