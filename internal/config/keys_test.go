package config

import (
	"os"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"short":                     "…",
		"sk-0123456789abcdef3f9a":   "sk-…3f9a",
		"2abcNGROKtoken_0123456789": "2ab…6789",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
		if in != "" && strings.Contains(Mask(in), in) {
			t.Errorf("Mask(%q) shows the whole secret", in)
		}
	}
}

func TestSetGetValidates(t *testing.T) {
	var f File
	for _, c := range []struct{ key, value, want string }{
		{"api_key", "  sk-abc  ", "sk-abc"},
		{"base_url", "http://127.0.0.1:8765/", "http://127.0.0.1:8765"},
		{"tunnel", "NGROK", "ngrok"},
		{"ngrok_authtoken", "tok", "tok"},
	} {
		if err := f.Set(c.key, c.value); err != nil {
			t.Fatalf("Set(%s): %v", c.key, err)
		}
		if got, _ := f.Get(c.key); got != c.want {
			t.Fatalf("Get(%s) = %q, want %q", c.key, got, c.want)
		}
	}
	for _, bad := range [][2]string{{"base_url", "modelslab.com"}, {"tunnel", "url"}, {"tunnel", "carrier-pigeon"}, {"api_key", "a b"}, {"nope", "x"}} {
		if err := f.Set(bad[0], bad[1]); err == nil {
			t.Errorf("Set(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if _, err := f.Get("nope"); err == nil {
		t.Error("Get of an unknown key accepted")
	}
	if err := f.Set("tunnel", ""); err != nil || f.Tunnel != "" {
		t.Fatalf("unset: %v, %q", err, f.Tunnel)
	}
}

func TestSaveKeepsUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(Path(dir), []byte(`{"api_key":"old","future_setting":{"a":[1,2]},"editor":"vi"}`), 0o600)
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	f.Set("api_key", "new")
	f.Set("tunnel", "local")
	if err := Save(dir, f); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(Path(dir))
	for _, want := range []string{`"api_key": "new"`, `"tunnel": "local"`, `"future_setting": {`, `"editor": "vi"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("rewritten file lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "base_url") {
		t.Errorf("empty keys written:\n%s", b)
	}
}
