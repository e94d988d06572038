package config

import (
	"os"
	"path/filepath"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	if err := Save(dir, &File{APIKey: "file-key", BaseURL: "http://file.test/", NgrokAuthtoken: "file-ngrok", Tunnel: "local"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, flag string
		env        map[string]string
		wantKey    string
		wantSrc    string
		wantBase   string
	}{
		{"file only", "", map[string]string{EnvConfigDir: dir}, "file-key", "file", "http://file.test"},
		{"env beats file", "", map[string]string{EnvConfigDir: dir, EnvAPIKey: "env-key", EnvBaseURL: "http://env.test"}, "env-key", "env", "http://env.test"},
		{"flag beats env", "flag-key", map[string]string{EnvConfigDir: dir, EnvAPIKey: "env-key"}, "flag-key", "flag", "http://file.test"},
		{"nothing", "", map[string]string{EnvConfigDir: t.TempDir()}, "", "", DefaultBaseURL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Resolve(c.flag, env(c.env))
			if err != nil {
				t.Fatal(err)
			}
			if got.APIKey != c.wantKey || got.APIKeySource != c.wantSrc || got.BaseURL != c.wantBase {
				t.Fatalf("got key=%q src=%q base=%q, want %q %q %q", got.APIKey, got.APIKeySource, got.BaseURL, c.wantKey, c.wantSrc, c.wantBase)
			}
		})
	}
}

func TestSaveIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mlab")
	if err := Save(dir, &File{APIKey: "k"}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode %v, want 0600", st.Mode().Perm())
	}
	f, err := Load(dir)
	if err != nil || f.APIKey != "k" {
		t.Fatalf("Load = %+v, %v", f, err)
	}
}

func TestLoadRejectsBrokenFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte("{not json"), 0o600)
	if _, err := Load(dir); err == nil {
		t.Fatal("broken config file accepted")
	}
}

func TestDirFallsBackToUserConfigDir(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/tmp/xdg-test")
	t.Setenv("HOME", "/tmp/home-test")
	d, err := Dir(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if d != "/tmp/xdg-test/mlab" {
		t.Fatalf("Dir = %q", d)
	}
}
