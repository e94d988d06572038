package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func ids(ms []Model) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// listShapes are bodies of every list shape the decoder accepts; each
// holds the models "a" and "b".
var listShapes = map[string]string{
	"data array":     `{"data":[{"model_id":"a"},{"model_id":"b"}],"error":null,"meta":{"request_id":"r1","total":42}}`,
	"data.items":     `{"data":{"items":[{"id":"a"},{"id":"b"}],"total":"7"}}`,
	"data.models":    `{"data":{"models":[{"modelId":"a"},{"slug":"b"}]}}`,
	"data.data":      `{"status":"success","data":{"current_page":1,"data":[{"model_id":"a"},{"model_id":"b"}],"total":2}}`,
	"items":          `{"items":[{"model_id":"a"},{"model_id":"b"}],"total":2}`,
	"models":         `{"models":[{"model_id":"a"},{"model_id":"b"}]}`,
	"top array":      `[{"model_id":"a"},{"model_id":"b"}]`,
	"openai":         `{"object":"list","data":[{"id":"a","object":"model","created":1712345678,"owned_by":"Qwen"},{"id":"b","object":"model","owned_by":"x"}]}`,
	"bare ids":       `["a","b"]`,
	"bom and spaces": "\xef\xbb\xbf \n [{\"model_id\":\"a\"},{\"model_id\":\"b\"}] \n",
}

func TestDecodeListShapes(t *testing.T) {
	wantTotal := map[string]int{"data array": 42, "data.items": 7}
	for name, body := range listShapes {
		t.Run(name, func(t *testing.T) {
			ms, total, err := DecodeList([]byte(body))
			if err != nil {
				t.Fatalf("DecodeList: %v", err)
			}
			if got := ids(ms); !reflect.DeepEqual(got, []string{"a", "b"}) {
				t.Errorf("ids = %q, want [a b]", got)
			}
			want := 2
			if w, ok := wantTotal[name]; ok {
				want = w
			}
			if total != want {
				t.Errorf("total = %d, want %d", total, want)
			}
		})
	}
}

func TestDecodeListItemKeys(t *testing.T) {
	body := `{"data":[
	 {"model_id":"flux","model_name":"Flux","provider":"modelslab","feature":"imagen","model_type":"text2img",
	  "model_subcategory":"base","description":"  A model  ","status":"model_ready","tags":["fast",{"name":"hd"},"fast",""],
	  "api_version":"v6"},
	 {"id":12345678901234567890,"title":"Num","model_category":"community","category":"video_fusion","type":"t2v","subcategory":"s","tags":"a, b ,c","version":7},
	 {"modelId":"seedream-4","name":"Seedream","owned_by":"byteplus","api_endpoint":"https://modelslab.com/api/v7/images/text-to-image"},
	 {"slug":"k","provider_name":"kling","endpoint_configurations":[{"name":"t2v","url":"https://modelslab.com/api/v7/video-fusion/text-to-video"}]},
	 {"model_id":"v6-by-url","url":"https://modelslab.com/api/v6/images/text2img"},
	 {"model_id":"obj-provider","provider":{"name":"Google","id":3},"api":"7"},
	 {"model_id":"plain"},
	 {"name":"no id is dropped"},
	 42,
	 true
	]}`
	ms, total, err := DecodeList([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if total != 10 {
		t.Errorf("total = %d, want 10 (items sent)", total)
	}
	want := []Model{
		{ID: "flux", Name: "Flux", Provider: "modelslab", Feature: "imagen", Type: "text2img", Subcategory: "base",
			Description: "A model", Status: "model_ready", Tags: []string{"fast", "hd"}, API: "v6"},
		{ID: "12345678901234567890", Name: "Num", Provider: "community", Feature: "video_fusion", Type: "t2v",
			Subcategory: "s", Tags: []string{"a", "b", "c"}, API: "v7"},
		{ID: "seedream-4", Name: "Seedream", Provider: "byteplus", API: "v7",
			Endpoint: "https://modelslab.com/api/v7/images/text-to-image"},
		{ID: "k", Provider: "kling", API: "v7", Endpoint: "https://modelslab.com/api/v7/video-fusion/text-to-video"},
		{ID: "v6-by-url", API: "v6", Endpoint: "https://modelslab.com/api/v6/images/text2img"},
		{ID: "obj-provider", Provider: "Google", API: "v7"},
		{ID: "plain"},
		{ID: "42"},
	}
	if !reflect.DeepEqual(ms, want) {
		g, _ := json.MarshalIndent(ms, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("models:\n%s\nwant:\n%s", g, w)
	}
}

func TestDecodeListAPIFromAnyString(t *testing.T) {
	ms, _, err := DecodeList([]byte(`[{"model_id":"x","links":{"docs":"see https://modelslab.com/api/v7/voice/music-gen now"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].API != "v7" || ms[0].Endpoint != "" {
		t.Errorf("got %+v, want API v7 and no endpoint (the text is no URL)", ms[0])
	}
	ms, _, _ = DecodeList([]byte(`[{"model_id":"x","version":"1.0","api":"latest"}]`))
	if ms[0].API != "" {
		t.Errorf("API = %q from a model version, want empty", ms[0].API)
	}
}

func TestDecodeListErrors(t *testing.T) {
	cases := []struct {
		name, body string
		want       error  // errors.Is target, or nil for a *ResponseError
		msg        string // the ResponseError's text
	}{
		{"envelope", `{"data":null,"error":{"code":"validation_error","message":"Human readable message","details":{}},"meta":{"request_id":"r"}}`,
			nil, "Human readable message (validation_error)"},
		{"envelope object message", `{"data":null,"error":{"code":"bad","message":{"search":["The search must be a string."],"per_page":"too big"}}}`,
			nil, "per_page: too big; search: The search must be a string. (bad)"},
		{"envelope details", `{"data":null,"error":{"code":"validation_error","message":"Invalid","details":{"feature":["unknown"]}}}`,
			nil, "Invalid: feature: unknown (validation_error)"},
		{"envelope string", `{"error":"Unauthenticated."}`, nil, "Unauthenticated."},
		{"status error", `{"status":"error","message":"Invalid Api Key"}`, nil, "Invalid Api Key"},
		{"status error object", `{"status":"error","code":"provider_error","message":{"init_image":["The init image field is required."]}}`,
			nil, "init_image: The init image field is required. (provider_error)"},
		{"status failed messege", `{"status":"failed","messege":"Model not found"}`, nil, "Model not found"},
		{"success false", `{"success":false,"message":"nope"}`, nil, "nope"},
		{"status error no message", `{"status":"error"}`, nil, "the server reported an error"},
		{"html", `<html><body>502</body></html>`, ErrNotJSON, ""},
		{"empty", ``, ErrNotJSON, ""},
		{"truncated", `{"data":[`, ErrNotJSON, ""},
		{"scalar", `"models"`, ErrNotJSON, ""},
		{"no list", `{"data":{"foo":1}}`, ErrUnknownShape, ""},
		{"laravel 404", `{"message":"Not Found"}`, ErrUnknownShape, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms, _, err := DecodeList([]byte(c.body))
			if err == nil {
				t.Fatalf("no error; models %v", ms)
			}
			if c.want != nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("err = %v, want %v", err, c.want)
				}
				return
			}
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("err = %T %v, want *ResponseError", err, err)
			}
			if re.Error() != c.msg {
				t.Errorf("message = %q, want %q", re.Error(), c.msg)
			}
		})
	}
}

func TestDecodeListNotAnErrorWhenDataPresent(t *testing.T) {
	ms, _, err := DecodeList([]byte(`{"data":[{"model_id":"a"}],"error":null,"status":"success"}`))
	if err != nil || len(ms) != 1 {
		t.Fatalf("got %v, %v", ms, err)
	}
}

func TestDecodeListBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	fmt.Fprintf(&b, `{"model_id":"huge","description":%q},`, strings.Repeat("x", MaxItemBytes))
	fmt.Fprintf(&b, `{"model_id":"m0","name":%q,"tags":["%s"]},`, strings.Repeat("n", 1000), strings.Repeat(`t","`, 200))
	for i := 1; i < MaxModels+50; i++ {
		fmt.Fprintf(&b, `{"model_id":"m%d"},`, i)
	}
	b.WriteString(`{"model_id":"dup"},{"model_id":"dup"}]}`)
	ms, total, err := DecodeList([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != MaxModels {
		t.Errorf("kept %d models, want %d", len(ms), MaxModels)
	}
	if ms[0].ID != "m0" {
		t.Errorf("first = %q, want m0 (the >64 KiB item is ignored)", ms[0].ID)
	}
	if total != MaxModels+53 {
		t.Errorf("total = %d", total)
	}
	if len(ms[0].Name) != maxNameLen || len(ms[0].Tags) != 1 {
		t.Errorf("name %d bytes, %d tags", len(ms[0].Name), len(ms[0].Tags))
	}
	ms, _, _ = DecodeList([]byte(`[{"model_id":"dup","name":"1"},{"model_id":"dup","name":"2"}]`))
	if len(ms) != 1 || ms[0].Name != "1" {
		t.Errorf("duplicates: %+v", ms)
	}
	var tags strings.Builder
	for i := range 100 {
		fmt.Fprintf(&tags, `"t%d",`, i)
	}
	ms, _, _ = DecodeList([]byte(`[{"model_id":"many","tags":[` + tags.String() + `"end"]}]`))
	if len(ms[0].Tags) != maxTags {
		t.Errorf("%d tags kept, want %d", len(ms[0].Tags), maxTags)
	}
}

// BenchmarkDecodeList decodes a 5,000-model list of realistic items.
func BenchmarkDecodeList(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"data":[`)
	for i := range 5000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"model_id":"model-%d","model_name":"Model %d","provider":"modelslab","feature":"imagen","model_type":"text2img","description":%q,"tags":["a","b"],"screenshots":["https://x/1.png","https://x/2.png"],"meta":{"downloads":12,"links":{"page":"https://modelslab.com/models/m"}}}`,
			i, i, strings.Repeat("words ", 40))
	}
	sb.WriteString(`],"meta":{"total":5000}}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := DecodeList(body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestClipRuneBoundary(t *testing.T) {
	s := strings.Repeat("é", 200) // 400 bytes
	got := clip(s, 255)
	if len(got) != 254 || !strings.HasPrefix(s, got) {
		t.Errorf("clip = %d bytes", len(got))
	}
}

func TestDecodeDetail(t *testing.T) {
	body := `{"data":{"model_id":"seedream-4","name":"Seedream 4","provider":"byteplus","model_type":"image",
	  "model_subcategory":"text-to-image","base_model":"x","description":"d",
	  "endpoint_configurations":[
	   {"name":"Text to image","url":"https://modelslab.com/api/v7/images/text-to-image",
	    "parameters":{"type":"object","required":["prompt","model_id","aspect_ratio"],
	     "properties":{
	      "prompt":{"type":"string","description":"What to draw"},
	      "aspect_ratio":{"type":"string","enum":["1:1","16:9",4],"default":"1:1"},
	      "samples":{"type":["integer","null"],"default":1},
	      "seed":{"type":"integer","default":12345678901234567890},
	      "model_id":{"type":"string","required":true}
	     }},
	    "config":[{"name":"width","type":"integer","required":true,"options":[512,1024]},{"name":"prompt","type":"ignored","default":"kept"}]},
	   {"name":"cfg only","endpoint":"/api/v7/images/image-to-image","config":[{"name":"b"},{"key":"a","type":"string"}]}
	  ]},"error":null}`
	d, err := DecodeDetail([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "seedream-4" || d.Name != "Seedream 4" || d.Provider != "byteplus" || d.Type != "image" ||
		d.Subcategory != "text-to-image" || d.Description != "d" {
		t.Errorf("model = %+v", d.Model)
	}
	if d.API != "v7" || d.Endpoint != "https://modelslab.com/api/v7/images/text-to-image" {
		t.Errorf("api %q endpoint %q", d.API, d.Endpoint)
	}
	if len(d.Endpoints) != 2 {
		t.Fatalf("%d endpoints", len(d.Endpoints))
	}
	e := d.Endpoints[0]
	if e.Name != "Text to image" || e.URL != "https://modelslab.com/api/v7/images/text-to-image" {
		t.Errorf("endpoint %+v", e)
	}
	if want := []string{"prompt", "model_id", "aspect_ratio", "width"}; !reflect.DeepEqual(e.Required, want) {
		t.Errorf("required = %q, want %q", e.Required, want)
	}
	var names []string
	for _, p := range e.Params {
		names = append(names, p.Name)
	}
	if want := []string{"aspect_ratio", "model_id", "prompt", "samples", "seed", "width"}; !reflect.DeepEqual(names, want) {
		t.Errorf("params = %q, want %q", names, want)
	}
	byName := map[string]Param{}
	for _, p := range e.Params {
		byName[p.Name] = p
	}
	if p := byName["aspect_ratio"]; !reflect.DeepEqual(p.Enum, []string{"1:1", "16:9", "4"}) || p.Default != "1:1" {
		t.Errorf("aspect_ratio = %+v", p)
	}
	if p := byName["samples"]; p.Type != "integer|null" || p.Default != json.Number("1") {
		t.Errorf("samples = %+v", p)
	}
	if p := byName["seed"]; p.Default != json.Number("12345678901234567890") {
		t.Errorf("seed default = %#v", p.Default)
	}
	if p := byName["prompt"]; p.Type != "string" || p.Description != "What to draw" || p.Default != "kept" {
		t.Errorf("prompt = %+v (schema wins, config fills)", p)
	}
	if p := byName["width"]; p.Type != "integer" || !reflect.DeepEqual(p.Enum, []string{"512", "1024"}) {
		t.Errorf("width = %+v", p)
	}
	e2 := d.Endpoints[1]
	if e2.URL != "/api/v7/images/image-to-image" || len(e2.Params) != 2 || e2.Params[0].Name != "a" || e2.Params[0].Type != "string" {
		t.Errorf("config-only endpoint = %+v", e2)
	}
}

func TestDecodeDetailShapes(t *testing.T) {
	for name, body := range map[string]string{
		"top-level":     `{"model_id":"flux","name":"Flux"}`,
		"data array":    `{"data":[{"model_id":"flux"}]}`,
		"top array":     `[{"model_id":"flux"}]`,
		"nested model":  `{"data":{"model":{"model_id":"flux"},"endpoint_configurations":[]}}`,
		"status wraps":  `{"status":"success","data":{"id":"flux"}}`,
		"numeric id":    `{"data":{"id":99}}`,
		"v6 by version": `{"data":{"model_id":"flux","api_version":"6"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			d, err := DecodeDetail([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if d.ID != "flux" && d.ID != "99" {
				t.Errorf("id = %q", d.ID)
			}
		})
	}
	for name, c := range map[string]struct {
		body string
		want error
	}{
		"data null":   {`{"data":null,"error":null}`, ErrNotFound},
		"data empty":  {`{"data":[]}`, ErrNotFound},
		"empty array": {`[]`, ErrNotFound},
		"no model":    {`{"data":{"foo":"bar"}}`, ErrUnknownShape},
		"html":        {`<!doctype html>`, ErrNotJSON},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeDetail([]byte(c.body)); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
	_, err := DecodeDetail([]byte(`{"data":null,"error":{"code":"not_found","message":"Model not found"}}`))
	var re *ResponseError
	if !errors.As(err, &re) || re.Code != "not_found" || re.Message != "Model not found" {
		t.Errorf("err = %v", err)
	}
}

func TestServerMessage(t *testing.T) {
	for body, want := range map[string]string{
		`{"message":"Unauthenticated."}`:                                        "Unauthenticated.",
		`{"data":null,"error":{"code":"unauthorized","message":"Invalid key"}}`: "Invalid key (unauthorized)",
		`{"status":"error","message":{"key":["required"]}}`:                     "key: required",
		`<html>`:                                "",
		`{"data":[],"error":{"message":"odd"}}`: "odd",
	} {
		if got := ServerMessage([]byte(body)); got != want {
			t.Errorf("ServerMessage(%s) = %q, want %q", body, got, want)
		}
	}
}
