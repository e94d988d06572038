package models

import (
	"strings"
	"unicode/utf8"
)

// API generations a model id can be routed to.
const (
	APIv6 = "v6"
	APIv7 = "v7"
)

// Model is one model as a list or detail response describes it. Every
// field is untrusted server text (trimmed and bounded, not sanitised).
type Model struct {
	ID          string `json:"model_id"`
	Name        string `json:"name"`
	Provider    string `json:"provider"`
	Feature     string `json:"feature"`
	Type        string `json:"type"`
	Subcategory string `json:"subcategory"`
	Description string `json:"description"`
	Status      string `json:"status"`
	// API is "v6", "v7" or "" when unknown.
	API string `json:"api"`
	// Endpoint is the submit URL or path when the server gave one.
	Endpoint string   `json:"endpoint"`
	Tags     []string `json:"tags,omitempty"`
}

// Detail is one model with the endpoints it can be called on.
type Detail struct {
	Model
	Endpoints []EndpointConfig `json:"endpoints,omitempty"`
}

// EndpointConfig is one of a model's endpoints and the parameters it takes.
type EndpointConfig struct {
	Name     string   `json:"name"`
	URL      string   `json:"url,omitempty"`
	Required []string `json:"required,omitempty"`
	// Params are sorted by name.
	Params []Param `json:"params,omitempty"`
}

// Param is one parameter of an endpoint (from its JSON Schema or its
// "config" list).
type Param struct {
	Name string `json:"name"`
	// Type is the schema type; a list of types is joined with "|".
	Type string   `json:"type"`
	Enum []string `json:"enum,omitempty"`
	// Default is the schema default as decoded JSON (numbers are
	// json.Number, so their digits are kept); nil when absent or too large.
	Default     any    `json:"default,omitempty"`
	Description string `json:"description"`
}

// Bounds on what the decoders keep from an untrusted body.
const (
	// MaxModels is the most models a list keeps.
	MaxModels = 10000
	// MaxItemBytes: a list item whose JSON is larger is ignored.
	MaxItemBytes = 64 << 10
	// MaxBodyBytes is the most the client reads of one response.
	MaxBodyBytes = 16 << 20

	maxIDLen          = 256
	maxNameLen        = 256
	maxShortLen       = 128 // provider, feature, type, subcategory, status
	maxDescriptionLen = 4096
	maxURLLen         = 2048
	maxTags           = 64
	maxTagLen         = 128
	maxEndpoints      = 64
	maxParams         = 512
	maxEnum           = 256
	maxEnumLen        = 256
	maxDefaultBytes   = 4096
	maxMessageLen     = 1024
	maxDepth          = 16
)

// clip trims s and cuts it to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut])
}

// bound re-applies the size limits to m (a model read from a cache file
// or built by a caller).
func (m Model) bound() Model {
	m.ID = clip(m.ID, maxIDLen)
	m.Name = clip(m.Name, maxNameLen)
	m.Provider = clip(m.Provider, maxShortLen)
	m.Feature = clip(m.Feature, maxShortLen)
	m.Type = clip(m.Type, maxShortLen)
	m.Subcategory = clip(m.Subcategory, maxShortLen)
	m.Description = clip(m.Description, maxDescriptionLen)
	m.Status = clip(m.Status, maxShortLen)
	m.API = normAPI(m.API)
	m.Endpoint = clip(m.Endpoint, maxURLLen)
	var tags []string
	for _, t := range m.Tags {
		if len(tags) == maxTags {
			break
		}
		if t = clip(t, maxTagLen); t != "" {
			tags = append(tags, t)
		}
	}
	m.Tags = tags
	return m
}

// boundModels bounds every model, drops those without an id and duplicate
// ids (the first is kept), and keeps at most MaxModels.
func boundModels(in []Model) []Model {
	out := make([]Model, 0, min(len(in), MaxModels))
	seen := make(map[string]bool, len(in))
	for _, m := range in {
		if len(out) == MaxModels {
			break
		}
		m = m.bound()
		if m.ID == "" || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		out = append(out, m)
	}
	return out
}

// normAPI maps "v7", "7", "V7", "7.0", "/api/v7" (and the v6 forms) to
// "v7"/"v6"; anything else to "".
func normAPI(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.Trim(s, "/")
	s = strings.TrimPrefix(s, "api/")
	s = strings.TrimPrefix(s, "v")
	switch s {
	case "7", "7.0":
		return APIv7
	case "6", "6.0":
		return APIv6
	}
	return ""
}

// apiInText finds "/api/v7/" or "/api/v6/" in s (case-insensitive).
func apiInText(s string) string {
	l := strings.ToLower(s)
	i7 := strings.Index(l, "/api/v7/")
	i6 := strings.Index(l, "/api/v6/")
	switch {
	case i7 >= 0 && (i6 < 0 || i7 < i6):
		return APIv7
	case i6 >= 0:
		return APIv6
	}
	return ""
}
