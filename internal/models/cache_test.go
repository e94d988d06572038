package models

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func fixedClock(t *time.Time) func() time.Time { return func() time.Time { return *t } }

func TestCacheRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub", "mlab")
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := Cache{Dir: dir, Now: fixedClock(&now)}
	models := []Model{
		{ID: "seedream-4", Name: "Seedream", Provider: "byteplus", API: "v7", Endpoint: "https://modelslab.com/api/v7/images/text-to-image", Tags: []string{"t"}},
		{ID: "flux", API: "v6"},
	}
	if _, ok, err := c.Load("https://modelslab.com"); ok || err != nil {
		t.Fatalf("empty cache: ok %v err %v", ok, err)
	}
	if err := c.Save("https://modelslab.com/", models); err != nil {
		t.Fatal(err)
	}
	l, ok, err := c.Load("https://modelslab.com")
	if err != nil || !ok {
		t.Fatalf("Load: ok %v err %v", ok, err)
	}
	if !reflect.DeepEqual(l.Models, models) || !l.FetchedAt.Equal(now) || l.BaseURL != "https://modelslab.com" {
		t.Errorf("list = %+v", l)
	}
	path, _ := c.Path("https://modelslab.com")
	if !strings.HasPrefix(filepath.Base(path), "models-") || len(filepath.Base(path)) != len("models-0123456789abcdef.json") {
		t.Errorf("file name %q", filepath.Base(path))
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
		}
		di, _ := os.Stat(dir)
		if di.Mode().Perm() != 0o700 {
			t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries (temp file left?)", len(entries))
	}
	// Save replaces.
	if err := c.Save("https://modelslab.com", models[:1]); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := c.Load("https://modelslab.com"); len(l.Models) != 1 {
		t.Errorf("after replace: %d models", len(l.Models))
	}
}

func TestCacheTTL(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := Cache{Dir: t.TempDir(), Now: fixedClock(&now)}
	if err := c.Save("", []Model{{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	l, ok, _ := c.Load("")
	if !ok || !c.Fresh(l) {
		t.Fatal("a list just saved is not fresh")
	}
	now = now.Add(DefaultTTL - time.Second)
	if !c.Fresh(l) {
		t.Error("stale before the default TTL")
	}
	now = now.Add(2 * time.Second)
	if c.Fresh(l) {
		t.Error("fresh after the default TTL")
	}
	// Stale lists still load: offline use is the caller's choice.
	if _, ok, _ := c.Load(""); !ok {
		t.Error("a stale list does not load")
	}
	c.TTL = time.Hour
	now = l.FetchedAt.Add(59 * time.Minute)
	if !c.Fresh(l) {
		t.Error("stale inside a 1h TTL")
	}
	now = l.FetchedAt.Add(61 * time.Minute)
	if c.Fresh(l) {
		t.Error("fresh past a 1h TTL")
	}
	now = l.FetchedAt.Add(-time.Hour) // the list is from the future
	if c.Fresh(l) {
		t.Error("a list stamped an hour ahead is fresh")
	}
	if c.Fresh(List{}) {
		t.Error("the zero list is fresh")
	}
}

func TestCacheCorrupt(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	path, _ := c.Path("http://127.0.0.1:8080")
	for name, content := range map[string]string{
		"garbage":       "{not json",
		"empty":         "",
		"wrong version": `{"version":99,"models":[],"base_url":"http://127.0.0.1:8080"}`,
		"other base":    `{"version":1,"models":[{"model_id":"a"}],"base_url":"https://modelslab.com"}`,
		"wrong types":   `{"version":1,"models":"x","base_url":"http://127.0.0.1:8080"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			l, ok, err := c.Load("http://127.0.0.1:8080")
			if ok || err == nil {
				t.Errorf("ok %v err %v list %+v; want not ok with a reason", ok, err, l)
			}
		})
	}
	// A hand-edited file is bounded again.
	long := strings.Repeat("x", 5000)
	os.WriteFile(path, []byte(`{"version":1,"base_url":"http://127.0.0.1:8080","models":[{"model_id":"a","name":"`+long+`","api":"7"},{"model_id":""},{"model_id":"a"}]}`), 0o600)
	l, ok, err := c.Load("http://127.0.0.1:8080")
	if !ok || err != nil || len(l.Models) != 1 || len(l.Models[0].Name) != maxNameLen || l.Models[0].API != APIv7 {
		t.Errorf("ok %v err %v models %d", ok, err, len(l.Models))
	}
	// Save repairs a corrupt file.
	os.WriteFile(path, []byte("{"), 0o600)
	if err := c.Save("http://127.0.0.1:8080", []Model{{ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Load("http://127.0.0.1:8080"); !ok || err != nil {
		t.Errorf("after Save: ok %v err %v", ok, err)
	}
}

func TestCacheTwoBaseURLs(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	if err := c.Save("https://modelslab.com", []Model{{ID: "real"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Save("http://127.0.0.1:4010", []Model{{ID: "sandbox"}}); err != nil {
		t.Fatal(err)
	}
	a, _ := c.Path("https://modelslab.com")
	b, _ := c.Path("http://127.0.0.1:4010")
	if a == b {
		t.Fatal("one file for two base URLs")
	}
	if p, _ := c.Path(""); p != a {
		t.Errorf(`"" is not the default base URL: %q vs %q`, p, a)
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 2 {
		t.Errorf("%d files", len(entries))
	}
	l1, _, _ := c.Load("https://modelslab.com")
	l2, _, _ := c.Load("http://127.0.0.1:4010")
	if len(l1.Models) != 1 || l1.Models[0].ID != "real" || len(l2.Models) != 1 || l2.Models[0].ID != "sandbox" {
		t.Errorf("lists mixed: %+v / %+v", l1, l2)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv(EnvCacheDir, "/tmp/x-cache")
	if d, err := DefaultDir(); err != nil || d != "/tmp/x-cache" {
		t.Errorf("DefaultDir = %q, %v", d, err)
	}
	if runtime.GOOS == "linux" {
		t.Setenv(EnvCacheDir, "")
		t.Setenv("XDG_CACHE_HOME", "/tmp/xdg")
		if d, err := DefaultDir(); err != nil || d != "/tmp/xdg/mlab" {
			t.Errorf("DefaultDir = %q, %v", d, err)
		}
		c := Cache{}
		if p, _ := c.Path(""); filepath.Dir(p) != "/tmp/xdg/mlab" {
			t.Errorf("Path = %q", p)
		}
	}
}
