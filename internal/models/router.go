package models

import (
	"sort"
	"strings"
)

// Where a route came from.
const (
	SourceSeed  = "built-in table"
	SourceCache = "model list (cache)"
	// SourceDefault: nothing knows the id; it is taken for one of
	// ModelsLab's own community or fine-tuned models, which v6 serves.
	SourceDefault = "default"
)

// Router decides which API generation serves a model id, from the last
// model list (the cache) and the built-in table. The zero value is not
// usable; call NewRouter. A Router is read-only and safe for concurrent use.
type Router struct {
	cached     []Model          // bounded, deduplicated
	cacheExact map[string]Model // id → model, only models that name their API
	cacheFold  map[string]Model // lower-case id → first such model
	seedExact  map[string]SeedRow
	seedFold   map[string]SeedRow
}

// NewRouter builds a router over cached (the last model list; nil for the
// built-in table alone).
func NewRouter(cached []Model) *Router {
	r := &Router{
		cached:     boundModels(cached),
		cacheExact: map[string]Model{},
		cacheFold:  map[string]Model{},
		seedExact:  make(map[string]SeedRow, len(seed)),
		seedFold:   make(map[string]SeedRow, len(seed)),
	}
	for _, m := range r.cached {
		if m.API == "" {
			continue
		}
		r.cacheExact[m.ID] = m
		if k := strings.ToLower(m.ID); !hasKey(r.cacheFold, k) {
			r.cacheFold[k] = m
		}
	}
	for _, s := range seed {
		r.seedExact[s.ID] = s
		if k := strings.ToLower(s.ID); !hasKey(r.seedFold, k) {
			r.seedFold[k] = s
		}
	}
	return r
}

func hasKey[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

// Route says where modelID goes: api is "v6" or "v7"; source is
// SourceCache or SourceSeed when known, SourceDefault (api "v6") when not.
// The lookup order is: the exact id in the model list, the exact id in the
// built-in table, then the same two case-insensitively, then the built-in
// family prefixes. Only list entries that name their API count. A blank
// id gives ("", "", false).
func (r *Router) Route(modelID string) (api, source string, known bool) {
	id := strings.TrimSpace(modelID)
	if id == "" {
		return "", "", false
	}
	if m, ok := r.cacheExact[id]; ok {
		return m.API, SourceCache, true
	}
	if s, ok := r.seedExact[id]; ok {
		return s.API, SourceSeed, true
	}
	fold := strings.ToLower(id)
	if m, ok := r.cacheFold[fold]; ok {
		return m.API, SourceCache, true
	}
	if s, ok := r.seedFold[fold]; ok {
		return s.API, SourceSeed, true
	}
	for _, p := range seedPrefixes {
		if strings.HasPrefix(fold, p.prefix) {
			return p.api, SourceSeed, true
		}
	}
	return APIv6, SourceDefault, false
}

// Lookup returns what is known of modelID (same order as Route): the
// model list's entry, with API, Provider, Feature and Endpoint filled from
// the built-in table where the list left them empty; else the built-in
// row. The id is matched exactly, then case-insensitively; the returned
// ID is the canonical spelling.
func (r *Router) Lookup(modelID string) (Model, bool) {
	id := strings.TrimSpace(modelID)
	if id == "" {
		return Model{}, false
	}
	fold := strings.ToLower(id)
	var (
		list    Model
		inList  bool
		row     SeedRow
		inTable bool
	)
	for _, m := range r.cached {
		if m.ID == id {
			list, inList = m, true
			break
		}
	}
	if !inList {
		for _, m := range r.cached {
			if strings.ToLower(m.ID) == fold {
				list, inList = m, true
				break
			}
		}
	}
	if s, ok := r.seedExact[id]; ok {
		row, inTable = s, true
	} else if s, ok := r.seedFold[fold]; ok {
		row, inTable = s, true
	}
	switch {
	case inList && inTable:
		sm := row.model()
		if list.API == "" {
			list.API = sm.API
		}
		if list.Provider == "" {
			list.Provider = sm.Provider
		}
		if list.Feature == "" {
			list.Feature = sm.Feature
		}
		if list.Endpoint == "" && list.API == sm.API {
			list.Endpoint = sm.Endpoint
		}
		return list, true
	case inList:
		return list, true
	case inTable:
		return row.model(), true
	}
	return Model{}, false
}

// Names returns every model id known to the router (the built-in table
// and the model list), sorted and without repeats: for shell completion.
func (r *Router) Names() []string {
	seen := make(map[string]bool, len(seed)+len(r.cached))
	out := make([]string, 0, len(seed)+len(r.cached))
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, s := range seed {
		add(s.ID)
	}
	for _, m := range r.cached {
		add(m.ID)
	}
	sort.Strings(out)
	return out
}
