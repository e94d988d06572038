package api

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseFieldsReadsFiles(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/prompt.txt"
	if err := os.WriteFile(path, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ParseFields([]string{"prompt=@" + path, "stdin=@-", "n=3", "f=1.5", "hex=0x10", "s=abc"}, nil, strings.NewReader("piped"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"prompt": "from a file", "stdin": "piped", "n": json.Number("3"), "f": json.Number("1.5"), "hex": "0x10", "s": "abc"}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if _, err := ParseFields([]string{"x=@" + dir + "/missing"}, nil, nil); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestFieldValueJSON: -F takes JSON arrays and objects as JSON (a list of
// images, a model's sections); anything that does not parse stays text.
func TestFieldValueJSON(t *testing.T) {
	for in, want := range map[string]any{
		`["a.png","b.png"]`:       []any{"a.png", "b.png"},
		`[{"start":30,"end":45}]`: []any{map[string]any{"start": json.Number("30"), "end": json.Number("45")}},
		` {"a":true} `:            map[string]any{"a": true},
		`[not json`:               "[not json",
		`[1] [2]`:                 "[1] [2]",
		`{"a":1}x`:                `{"a":1}x`,
		`[Verse 1] your eyes`:     "[Verse 1] your eyes",
	} {
		got, err := FieldValue(in, nil)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("FieldValue(%q) = %#v, %v; want %#v", in, got, err, want)
		}
	}
}
