package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
)

// PlansDir is the directory (inside the journal's) that holds batch plans,
// one <batch id>.json each.
const PlansDir = "batches"

// Plan is a batch as it was asked for, saved before its first submit, so
// that a batch killed halfway can also submit the lines it never got to.
type Plan struct {
	BatchID    string            `json:"batch_id"`
	Endpoint   string            `json:"endpoint"`
	BaseURL    string            `json:"base_url,omitempty"` // the API its jobs go to (never a key)
	PathParams map[string]string `json:"path_params,omitempty"`
	Lines      []PlanLine        `json:"lines"`
}

// PlanLine is one job of a plan: its input line, the track_id its submit
// carries (given before any submit, so that a resume matches each line to
// its journalled job or intent) and its request body.
type PlanLine struct {
	Line    int            `json:"line"`
	TrackID string         `json:"track_id,omitempty"`
	Body    map[string]any `json:"body"`
}

// PlanPath is where the plan of batchID lives in the journal directory dir.
func PlanPath(dir, batchID string) string {
	return filepath.Join(dir, PlansDir, batchID+".json")
}

// SavePlan writes p under the journal's exclusive lock, atomically (a
// temporary file renamed into place, mode 0600). Bodies are stored without
// "key" (in any case: Key, KEY) and the base URL without credentials; the
// caller's maps are not changed.
func (j *Journal) SavePlan(p Plan) error {
	if p.BatchID == "" || strings.ContainsAny(p.BatchID, `/\`) || strings.HasPrefix(p.BatchID, ".") {
		return fmt.Errorf("journal: save plan: bad batch id %q", p.BatchID)
	}
	lines := make([]PlanLine, len(p.Lines))
	for i, l := range p.Lines {
		body := maps.Clone(l.Body)
		for k := range body {
			if strings.EqualFold(k, "key") {
				delete(body, k)
			}
		}
		lines[i] = PlanLine{Line: l.Line, TrackID: l.TrackID, Body: body}
	}
	p.Lines = lines
	if p.BaseURL != "" {
		e := Entry{BaseURL: p.BaseURL}
		clean(&e)
		p.BaseURL = e.BaseURL
	}
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("journal: save plan %s: %w", p.BatchID, err)
	}
	unlock, err := j.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	path := PlanPath(j.dir, p.BatchID)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("journal: save plan %s: %w", p.BatchID, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("journal: save plan %s: %w", p.BatchID, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("journal: save plan %s: %w", p.BatchID, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// ErrNoPlan is returned by LoadPlan when no plan was saved for a batch.
var ErrNoPlan = errors.New("no plan saved for the batch")

// LoadPlan reads the plan of batchID; numbers in bodies stay json.Number.
// It returns ErrNoPlan when there is none.
func (j *Journal) LoadPlan(batchID string) (*Plan, error) {
	if j.closed.Load() {
		return nil, ErrClosed
	}
	data, err := os.ReadFile(PlanPath(j.dir, batchID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoPlan
	}
	if err != nil {
		return nil, fmt.Errorf("journal: batch plan %s: %w", batchID, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("batch plan %s: %w", batchID, err)
	}
	return &p, nil
}
