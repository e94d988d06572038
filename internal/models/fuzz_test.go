package models

import (
	"encoding/json"
	"testing"
)

var detailSeeds = []string{
	`{"data":{"model_id":"seedream-4","name":"S","provider":"byteplus","endpoint_configurations":[{"name":"t2i","url":"https://modelslab.com/api/v7/images/text-to-image","parameters":{"required":["prompt"],"properties":{"prompt":{"type":"string"},"n":{"type":["integer","null"],"enum":[1,2],"default":1}}},"config":[{"name":"w","type":"integer","required":true}]}]}}`,
	`{"model_id":"flux","api_version":"v6"}`,
	`{"data":[{"id":1}]}`,
	`[{"model_id":"x"}]`,
	`{"data":{"model":{"model_id":"x"},"endpoints":[{"endpoint":"/api/v6/images/text2img","parameters":[{"name":"p"}]}]}}`,
	`{"data":null,"error":{"code":"not_found","message":{"id":["missing"]}}}`,
	`{"status":"error","message":"Invalid Api Key"}`,
	`{"data":null}`,
	`<html>`,
	``,
}

func checkModel(t *testing.T, m Model) {
	t.Helper()
	if len(m.ID) > maxIDLen || len(m.Name) > maxNameLen || len(m.Provider) > maxShortLen ||
		len(m.Feature) > maxShortLen || len(m.Type) > maxShortLen || len(m.Subcategory) > maxShortLen ||
		len(m.Status) > maxShortLen || len(m.Description) > maxDescriptionLen || len(m.Endpoint) > maxURLLen {
		t.Fatalf("unbounded field in %+v", m)
	}
	if m.API != "" && m.API != APIv6 && m.API != APIv7 {
		t.Fatalf("API = %q", m.API)
	}
	if len(m.Tags) > maxTags {
		t.Fatalf("%d tags", len(m.Tags))
	}
	for _, tag := range m.Tags {
		if tag == "" || len(tag) > maxTagLen {
			t.Fatalf("tag %q", tag)
		}
	}
}

func FuzzDecodeList(f *testing.F) {
	for _, s := range listShapes {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"data":[{"model_id":"flux","model_name":"Flux","provider":{"name":"m"},"tags":"a,b","version":7,"endpoint_configurations":[{"url":"/api/v6/x"}]}],"meta":{"total":3}}`,
		`{"data":null,"error":{"code":"validation_error","message":{"a":["b"]},"details":{"c":1}}}`,
		`{"status":"error","message":"Invalid Api Key"}`,
		`{"data":{"items":[1,"2",null,true,{"id":3.5e3}]}}`,
		`{"pagination":{"total":"9"},"results":[{"slug":"s","tags":[{"name":"t"},"u"]}]}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`<html>`,
		``,
	} {
		f.Add([]byte(s))
	}
	for _, s := range detailSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ms, total, err := DecodeList(body)
		if err != nil {
			if ms != nil || total != 0 {
				t.Fatalf("error %v with models %v total %d", err, ms, total)
			}
			return
		}
		if total < 0 || len(ms) > MaxModels {
			t.Fatalf("total %d, %d models", total, len(ms))
		}
		seen := map[string]bool{}
		for _, m := range ms {
			if m.ID == "" || seen[m.ID] {
				t.Fatalf("empty or repeated id %q", m.ID)
			}
			seen[m.ID] = true
			checkModel(t, m)
		}
		if _, err := json.Marshal(ms); err != nil {
			t.Fatalf("models do not marshal: %v", err)
		}
		// The router takes whatever a list gives.
		r := NewRouter(ms)
		for _, m := range ms {
			if api, _, _ := r.Route(m.ID); api != APIv6 && api != APIv7 {
				t.Fatalf("Route(%q) = %q", m.ID, api)
			}
		}
	})
}

func FuzzDecodeDetail(f *testing.F) {
	for _, s := range detailSeeds {
		f.Add([]byte(s))
	}
	for _, s := range listShapes {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := DecodeDetail(body)
		if err != nil {
			if d != nil {
				t.Fatalf("error %v with detail", err)
			}
			return
		}
		checkModel(t, d.Model)
		if len(d.Endpoints) > maxEndpoints {
			t.Fatalf("%d endpoints", len(d.Endpoints))
		}
		for _, e := range d.Endpoints {
			if len(e.Name) > maxNameLen || len(e.URL) > maxURLLen || len(e.Params) > maxParams || len(e.Required) > maxParams {
				t.Fatalf("unbounded endpoint %+v", e)
			}
			for i, p := range e.Params {
				if p.Name == "" || len(p.Name) > maxNameLen || len(p.Enum) > maxEnum || len(p.Description) > maxDescriptionLen {
					t.Fatalf("unbounded param %+v", p)
				}
				if i > 0 && e.Params[i-1].Name >= p.Name {
					t.Fatalf("params not sorted: %q then %q", e.Params[i-1].Name, p.Name)
				}
			}
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatalf("detail does not marshal: %v", err)
		}
	})
}
