package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

var (
	// ErrNotFound: the server has no such model.
	ErrNotFound = errors.New("model not found")
	// ErrUnknownShape: the body is JSON but holds no model list (or no
	// model) in any shape the decoders know.
	ErrUnknownShape = errors.New("the response holds no model list in a known shape")
	// ErrNotJSON: the body is not a JSON object or array.
	ErrNotJSON = errors.New("the response is not JSON")
)

// ResponseError is an error the server reported in the body: an envelope
// {"data":null,"error":{"code":…,"message":…}} or {"status":"error",
// "message":…}. Message is flattened to one line ("field: text; …").
type ResponseError struct {
	Code    string
	Message string
}

func (e *ResponseError) Error() string {
	switch {
	case e.Message != "" && e.Code != "":
		return e.Message + " (" + e.Code + ")"
	case e.Message != "":
		return e.Message
	case e.Code != "":
		return "the server reported an error (" + e.Code + ")"
	}
	return "the server reported an error"
}

type object map[string]json.RawMessage

// parseTop parses body (a UTF-8 BOM and surrounding space allowed) as a
// JSON object or array; anything else is ErrNotJSON.
func parseTop(body []byte) (object, []json.RawMessage, error) {
	b := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf")))
	if len(b) > 0 {
		switch b[0] {
		case '{':
			if o, ok := objectOf(b); ok {
				return o, nil, nil
			}
		case '[':
			if a, ok := arrayOf(b); ok {
				return nil, a, nil
			}
		}
	}
	return nil, nil, ErrNotJSON
}

// kindOf returns the first byte of a JSON value: '"', '{', '[', 'n', 't',
// 'f', or '0' for a number; 0 when raw is empty.
func kindOf(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; c {
	case '"', '{', '[', 'n', 't', 'f':
		return c
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return '0'
	}
	return 0
}

func objectOf(raw json.RawMessage) (object, bool) {
	if kindOf(raw) != '{' {
		return nil, false
	}
	var o object
	if json.Unmarshal(raw, &o) != nil {
		return nil, false
	}
	return o, true
}

func arrayOf(raw json.RawMessage) ([]json.RawMessage, bool) {
	if kindOf(raw) != '[' {
		return nil, false
	}
	var a []json.RawMessage
	if json.Unmarshal(raw, &a) != nil {
		return nil, false
	}
	return a, true
}

// textOf returns a string as is, a number as written (every digit kept),
// and "" for anything else.
func textOf(raw json.RawMessage) string {
	switch kindOf(raw) {
	case '"':
		raw = bytes.TrimSpace(raw)
		if len(raw) >= 2 && raw[len(raw)-1] == '"' {
			if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
				return string(inner) // the common case: nothing to unescape
			}
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '0':
		return string(bytes.TrimSpace(raw))
	}
	return ""
}

// labelOf is textOf, or for an object its name, title, slug or id.
func labelOf(raw json.RawMessage) string {
	if o, ok := objectOf(raw); ok {
		return first(o, textOf, "name", "title", "label", "slug", "id")
	}
	return textOf(raw)
}

// first returns the first non-blank value get finds under keys.
func first(o object, get func(json.RawMessage) string, keys ...string) string {
	for _, k := range keys {
		if v, ok := o[k]; ok {
			if s := strings.TrimSpace(get(v)); s != "" {
				return s
			}
		}
	}
	return ""
}

// intOf reads a non-negative integer from a number or a numeric string.
func intOf(raw json.RawMessage) (int, bool) {
	s := strings.TrimSpace(textOf(raw))
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > math.MaxInt32 || f != math.Trunc(f) {
		return 0, false
	}
	return int(f), true
}

func isNull(raw json.RawMessage) bool {
	k := kindOf(raw)
	return k == 0 || k == 'n'
}

// flatten turns a message into one line: strings and numbers as they are,
// arrays joined with "; ", objects as "field: text; field2: text" in key
// order. The result is bounded.
func flatten(raw json.RawMessage) string {
	return clip(flattenDepth(raw, 0), maxMessageLen)
}

func flattenDepth(raw json.RawMessage, depth int) string {
	if depth > maxDepth {
		return ""
	}
	switch kindOf(raw) {
	case '"', '0':
		return strings.TrimSpace(textOf(raw))
	case 't', 'f':
		return string(bytes.TrimSpace(raw))
	case '[':
		items, _ := arrayOf(raw)
		var parts []string
		for _, it := range items {
			if v := flattenDepth(it, depth+1); v != "" {
				parts = append(parts, v)
			}
			if len(parts) > 64 {
				break
			}
		}
		return strings.Join(parts, "; ")
	case '{':
		o, _ := objectOf(raw)
		keys := sortedKeys(o)
		var parts []string
		for _, k := range keys {
			v := flattenDepth(o[k], depth+1)
			switch {
			case v == "":
			case k == "":
				parts = append(parts, v)
			default:
				parts = append(parts, k+": "+v)
			}
			if len(parts) > 64 {
				break
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

func sortedKeys(o object) []string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// envelopeError returns the error a body reports, or nil: an "error" that
// is not null/false/empty while "data" is absent or null; "status" error,
// failed or fail; "success": false.
func envelopeError(o object) *ResponseError {
	if e, ok := o["error"]; ok && isNull(o["data"]) && !emptyValue(e) {
		re := &ResponseError{}
		if eo, ok := objectOf(e); ok {
			re.Code = clip(first(eo, textOf, "code", "type", "status"), maxShortLen)
			re.Message = flatten(pick(eo, "message", "messege", "msg", "detail", "error"))
			if d, ok := eo["details"]; ok && !emptyValue(d) {
				if ds := flatten(d); ds != "" {
					re.Message = joinNonEmpty(": ", re.Message, ds)
				}
			}
		} else {
			re.Message = flatten(e)
		}
		if re.Message == "" {
			re.Message = flatten(pick(o, "message", "messege"))
		}
		re.Message = clip(re.Message, maxMessageLen)
		return re
	}
	status := strings.ToLower(strings.TrimSpace(textOf(o["status"])))
	failed := status == "error" || status == "failed" || status == "fail"
	if s, ok := o["success"]; ok && kindOf(s) == 'f' {
		failed = true
	}
	if !failed {
		return nil
	}
	re := &ResponseError{Code: clip(textOf(o["code"]), maxShortLen)}
	re.Message = flatten(pick(o, "message", "messege", "msg", "error", "detail"))
	return re
}

// pick returns the first of keys whose value is not null or empty.
func pick(o object, keys ...string) json.RawMessage {
	for _, k := range keys {
		if v, ok := o[k]; ok && !emptyValue(v) {
			return v
		}
	}
	return nil
}

// emptyValue: absent, null, false, "", [] or {}.
func emptyValue(raw json.RawMessage) bool {
	switch kindOf(raw) {
	case 0, 'n', 'f':
		return true
	case '"':
		return strings.TrimSpace(textOf(raw)) == ""
	case '[':
		a, ok := arrayOf(raw)
		return !ok || len(a) == 0
	case '{':
		o, ok := objectOf(raw)
		return !ok || len(o) == 0
	}
	return false
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

// ServerMessage returns what an (error) body says, flattened and bounded:
// the envelope's error message, else "message"/"messege"/"error"; "" when
// the body is not a JSON object or says nothing. The text is untrusted.
func ServerMessage(body []byte) string {
	o, _, err := parseTop(body)
	if err != nil || o == nil {
		return ""
	}
	if re := envelopeError(o); re != nil {
		return clip(re.Error(), maxMessageLen)
	}
	if e, ok := objectOf(o["error"]); ok {
		if m := flatten(pick(e, "message", "messege", "msg")); m != "" {
			return m
		}
	}
	return flatten(pick(o, "message", "messege", "error", "detail"))
}

// DecodeList reads a model list. It accepts {"data":[…]},
// {"data":{"items"|"models"|"data"|"results":[…]}}, {"items"|"models"|
// "results":[…]}, a top-level array and the OpenAI {"object":"list",
// "data":[{"id","owned_by"}]}; see [Model] for the item keys read. total is
// meta.total, total, data.total or pagination.total, else the number of
// items sent. Items without an id, items larger than [MaxItemBytes] and
// repeated ids are dropped; at most [MaxModels] are kept. An error body is
// a *[ResponseError]; a JSON body with no list is [ErrUnknownShape]; a
// non-JSON body is [ErrNotJSON].
func DecodeList(body []byte) ([]Model, int, error) {
	o, items, err := parseTop(body)
	if err != nil {
		return nil, 0, err
	}
	total := -1
	if o != nil {
		var found bool
		if re := envelopeError(o); re != nil {
			return nil, 0, re
		}
		var data object
		if a, ok := arrayOf(o["data"]); ok {
			items, found = a, true
		} else if d, ok := objectOf(o["data"]); ok {
			data = d
			items, found = listIn(d)
		}
		if !found {
			items, found = listIn(o)
		}
		if !found {
			return nil, 0, ErrUnknownShape
		}
		total = totalOf(o, data)
	}
	models := make([]Model, 0, min(len(items), MaxModels))
	seen := make(map[string]bool, min(len(items), MaxModels))
	for _, it := range items {
		if len(models) == MaxModels {
			break
		}
		if len(it) > MaxItemBytes {
			continue
		}
		m, ok := decodeItem(it)
		if !ok || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		models = append(models, m)
	}
	if total < 0 {
		total = len(items)
	}
	return models, total, nil
}

// listIn finds the model array of an object.
func listIn(o object) ([]json.RawMessage, bool) {
	for _, k := range []string{"items", "models", "data", "results"} {
		if a, ok := arrayOf(o[k]); ok {
			return a, true
		}
	}
	return nil, false
}

func totalOf(top, data object) int {
	if meta, ok := objectOf(top["meta"]); ok {
		if n, ok := intOf(meta["total"]); ok {
			return n
		}
		if p, ok := objectOf(meta["pagination"]); ok {
			if n, ok := intOf(p["total"]); ok {
				return n
			}
		}
	}
	if n, ok := intOf(top["total"]); ok {
		return n
	}
	if data != nil {
		if n, ok := intOf(data["total"]); ok {
			return n
		}
		if meta, ok := objectOf(data["meta"]); ok {
			if n, ok := intOf(meta["total"]); ok {
				return n
			}
		}
	}
	if p, ok := objectOf(top["pagination"]); ok {
		if n, ok := intOf(p["total"]); ok {
			return n
		}
	}
	return -1
}

// decodeItem reads one list item: an object, or a bare id (string or
// number).
func decodeItem(raw json.RawMessage) (Model, bool) {
	switch kindOf(raw) {
	case '"', '0':
		id := clip(textOf(raw), maxIDLen)
		return Model{ID: id}, id != ""
	case '{':
		o, ok := objectOf(raw)
		if !ok {
			return Model{}, false
		}
		m := modelOf(o)
		return m, m.ID != ""
	}
	return Model{}, false
}

// endpointKeys may hold a model's submit URL or path.
var endpointKeys = []string{"api_endpoint", "endpoint", "endpoint_url", "submit_url", "api_url", "url"}

// modelOf reads the model fields of an object.
func modelOf(o object) Model {
	m := Model{
		ID:          clip(first(o, textOf, "model_id", "id", "modelId", "slug"), maxIDLen),
		Name:        clip(first(o, labelOf, "model_name", "name", "title"), maxNameLen),
		Provider:    clip(first(o, labelOf, "provider", "model_category", "owned_by", "provider_name"), maxShortLen),
		Feature:     clip(first(o, labelOf, "feature", "category"), maxShortLen),
		Type:        clip(first(o, labelOf, "model_type", "type"), maxShortLen),
		Subcategory: clip(first(o, labelOf, "model_subcategory", "subcategory"), maxShortLen),
		Description: clip(first(o, textOf, "description"), maxDescriptionLen),
		Status:      clip(first(o, labelOf, "status"), maxShortLen),
		Tags:        tagsOf(o["tags"]),
	}
	for _, k := range []string{"api_version", "api", "version"} {
		if a := normAPI(textOf(o[k])); a != "" {
			m.API = a
			break
		}
	}
	for _, k := range endpointKeys {
		s := strings.TrimSpace(textOf(o[k]))
		if looksLikeEndpoint(s) {
			m.Endpoint = clip(s, maxURLLen)
			break
		}
	}
	if m.API == "" && m.Endpoint != "" {
		m.API = apiInText(m.Endpoint)
	}
	if m.API == "" || m.Endpoint == "" {
		api, where := scanAPI(o, 0, new(int))
		if m.API == "" {
			m.API = api
		}
		if m.Endpoint == "" && api != "" && api == m.API && looksLikeEndpoint(where) {
			m.Endpoint = clip(where, maxURLLen)
		}
	}
	return m
}

// looksLikeEndpoint: a URL or path that names an API route.
func looksLikeEndpoint(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	return strings.Contains(strings.ToLower(s), "/api/")
}

// scanAPI looks through every string value of raw (sorted keys, depth and
// count bounded) for "/api/v7/" or "/api/v6/"; it returns the version and
// the string it was found in.
func scanAPI(o object, depth int, budget *int) (string, string) {
	if depth > maxDepth {
		return "", ""
	}
	// endpoint_configurations first: its urls are the submit URLs.
	keys := sortedKeys(o)
	sort.SliceStable(keys, func(i, j int) bool {
		return keys[i] == "endpoint_configurations" && keys[j] != "endpoint_configurations"
	})
	for _, k := range keys {
		if !mayNameAPI(o[k]) {
			continue
		}
		if api, s := scanValue(o[k], depth+1, budget); api != "" {
			return api, s
		}
	}
	return "", ""
}

// mayNameAPI is a cheap test that raw could hold "/api/v6/" or "/api/v7/"
// (possibly with escaped slashes).
func mayNameAPI(raw json.RawMessage) bool {
	for _, v := range [][]byte{[]byte("v7"), []byte("v6"), []byte("V7"), []byte("V6"), []byte(`u0037`), []byte(`u0036`)} {
		if bytes.Contains(raw, v) {
			return true
		}
	}
	return false
}

func scanValue(raw json.RawMessage, depth int, budget *int) (string, string) {
	*budget++
	if *budget > 10000 || depth > maxDepth {
		return "", ""
	}
	switch kindOf(raw) {
	case '"':
		s := textOf(raw)
		if api := apiInText(s); api != "" {
			return api, strings.TrimSpace(s)
		}
	case '{':
		if o, ok := objectOf(raw); ok {
			return scanAPI(o, depth, budget)
		}
	case '[':
		a, _ := arrayOf(raw)
		for _, it := range a {
			if api, s := scanValue(it, depth+1, budget); api != "" {
				return api, s
			}
		}
	}
	return "", ""
}

// tagsOf reads tags: an array of strings or of {"name":…}, or a comma list.
func tagsOf(raw json.RawMessage) []string {
	var parts []string
	switch kindOf(raw) {
	case '"':
		parts = strings.Split(textOf(raw), ",")
	case '[':
		a, _ := arrayOf(raw)
		for _, it := range a {
			parts = append(parts, labelOf(it))
			if len(parts) > 4*maxTags {
				break
			}
		}
	}
	var tags []string
	seen := map[string]bool{}
	for _, p := range parts {
		p = clip(p, maxTagLen)
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		tags = append(tags, p)
		if len(tags) == maxTags {
			break
		}
	}
	return tags
}

// DecodeDetail reads one model: "data" (an object, or an array's first
// object) or the top-level object, with its endpoint_configurations[]
// ({name, url, parameters: JSON Schema {required, properties}, config:
// [{name, type, …}]}). "data": null or [] is [ErrNotFound]; an error body
// is a *[ResponseError]; a JSON body with neither a model id, a name nor an
// endpoint is [ErrUnknownShape].
func DecodeDetail(body []byte) (*Detail, error) {
	o, a, err := parseTop(body)
	if err != nil {
		return nil, err
	}
	if o == nil {
		if len(a) == 0 {
			return nil, ErrNotFound
		}
		var ok bool
		if o, ok = objectOf(a[0]); !ok {
			return nil, ErrUnknownShape
		}
	}
	if re := envelopeError(o); re != nil {
		return nil, re
	}
	if d, ok := o["data"]; ok {
		switch kindOf(d) {
		case 'n':
			return nil, ErrNotFound
		case '{':
			o, _ = objectOf(d)
		case '[':
			a, _ := arrayOf(d)
			if len(a) == 0 {
				return nil, ErrNotFound
			}
			inner, ok := objectOf(a[0])
			if !ok {
				return nil, ErrUnknownShape
			}
			o = inner
		}
	}
	if inner, ok := objectOf(o["model"]); ok && first(o, textOf, "model_id", "id") == "" {
		// {"model": {…}, "endpoint_configurations": […]}
		for k, v := range inner {
			if _, dup := o[k]; !dup {
				o[k] = v
			}
		}
	}
	d := &Detail{Model: modelOf(o)}
	var configs []json.RawMessage
	for _, k := range []string{"endpoint_configurations", "endpoints", "endpoint_configs"} {
		if a, ok := arrayOf(o[k]); ok {
			configs = a
			break
		}
	}
	for _, c := range configs {
		if len(d.Endpoints) == maxEndpoints {
			break
		}
		if co, ok := objectOf(c); ok {
			d.Endpoints = append(d.Endpoints, endpointOf(co))
		}
	}
	if d.Endpoint == "" {
		for _, e := range d.Endpoints {
			if looksLikeEndpoint(e.URL) {
				d.Endpoint = e.URL
				break
			}
		}
	}
	if d.API == "" {
		for _, e := range d.Endpoints {
			if a := apiInText(e.URL); a != "" {
				d.API = a
				break
			}
		}
	}
	if d.ID == "" && d.Name == "" && len(d.Endpoints) == 0 {
		return nil, ErrUnknownShape
	}
	return d, nil
}

func endpointOf(o object) EndpointConfig {
	e := EndpointConfig{
		Name: clip(first(o, labelOf, "name", "title", "endpoint_name", "type"), maxNameLen),
		URL:  clip(first(o, textOf, "url", "endpoint", "api_endpoint", "endpoint_url", "path"), maxURLLen),
	}
	params := map[string]*Param{}
	var required []string
	addRequired := func(name string) {
		name = clip(name, maxNameLen)
		if name == "" || len(required) >= maxParams {
			return
		}
		for _, r := range required {
			if r == name {
				return
			}
		}
		required = append(required, name)
	}
	param := func(name string) *Param {
		name = clip(name, maxNameLen)
		if name == "" {
			return nil
		}
		if p, ok := params[name]; ok {
			return p
		}
		if len(params) >= maxParams {
			return nil
		}
		p := &Param{Name: name}
		params[name] = p
		return p
	}
	schema, ok := objectOf(o["parameters"])
	if !ok {
		schema, ok = objectOf(o["schema"])
	}
	if ok {
		if req, ok := arrayOf(schema["required"]); ok {
			for _, r := range req {
				addRequired(textOf(r))
			}
		}
		props, _ := objectOf(schema["properties"])
		for _, name := range sortedKeys(props) {
			p := param(name)
			if p == nil {
				break
			}
			po, _ := objectOf(props[name])
			fillParam(p, po)
			if kindOf(po["required"]) == 't' {
				addRequired(name)
			}
		}
	}
	var cfg []json.RawMessage
	for _, k := range []string{"config", "configs", "params"} {
		if a, ok := arrayOf(o[k]); ok {
			cfg = a
			break
		}
	}
	if a, ok := arrayOf(o["parameters"]); ok && cfg == nil {
		cfg = a
	}
	for _, c := range cfg {
		co, ok := objectOf(c)
		if !ok {
			continue
		}
		p := param(first(co, textOf, "name", "key", "field", "param"))
		if p == nil {
			continue
		}
		fillParam(p, co)
		if kindOf(co["required"]) == 't' || strings.EqualFold(textOf(co["required"]), "true") {
			addRequired(p.Name)
		}
	}
	e.Required = required
	for _, p := range params {
		e.Params = append(e.Params, *p)
	}
	sort.Slice(e.Params, func(i, j int) bool { return e.Params[i].Name < e.Params[j].Name })
	return e
}

// fillParam sets the fields of p that are still empty from a schema
// property or a config entry.
func fillParam(p *Param, o object) {
	if o == nil {
		return
	}
	if p.Type == "" {
		p.Type = clip(typeOf(o["type"]), maxShortLen)
	}
	if p.Enum == nil {
		for _, k := range []string{"enum", "options", "values", "choices"} {
			if a, ok := arrayOf(o[k]); ok {
				p.Enum = enumOf(a)
				break
			}
		}
	}
	if p.Default == nil {
		if raw, ok := o["default"]; ok && !isNull(raw) && len(raw) <= maxDefaultBytes {
			p.Default = anyOf(raw)
		}
	}
	if p.Description == "" {
		p.Description = clip(first(o, textOf, "description", "desc", "help", "title"), maxDescriptionLen)
	}
}

// typeOf reads a schema type: "string", or ["string","null"] as
// "string|null".
func typeOf(raw json.RawMessage) string {
	if a, ok := arrayOf(raw); ok {
		var parts []string
		for _, it := range a {
			if s := strings.TrimSpace(textOf(it)); s != "" {
				parts = append(parts, s)
			}
			if len(parts) == 8 {
				break
			}
		}
		return strings.Join(parts, "|")
	}
	return textOf(raw)
}

func enumOf(a []json.RawMessage) []string {
	out := []string{}
	for _, it := range a {
		if len(out) == maxEnum {
			break
		}
		var s string
		switch kindOf(it) {
		case '"', '0':
			s = textOf(it)
		case 't', 'f':
			s = string(bytes.TrimSpace(it))
		case '{':
			o, _ := objectOf(it)
			s = first(o, textOf, "value", "name", "label", "id")
		}
		if s = clip(s, maxEnumLen); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// anyOf decodes a bounded JSON value with numbers as json.Number.
func anyOf(raw json.RawMessage) any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}
