package config

import (
	"os"
	"path/filepath"
	"testing"
)

// Effective agrees with Resolve on every value, for every combination of
// flag, environment and file, and names the source.
func TestEffectiveMatchesResolve(t *testing.T) {
	for mask := range 1 << 5 {
		dir := t.TempDir()
		env := map[string]string{EnvConfigDir: dir}
		file := &File{}
		flagKey := ""
		if mask&1 != 0 {
			flagKey = "flag-key-123"
		}
		if mask&2 != 0 {
			env[EnvAPIKey] = " env-key-123 "
			env[EnvBaseURL] = "http://127.0.0.1:9/"
			env[EnvTunnel] = "none"
		}
		if mask&4 != 0 {
			file.APIKey, file.BaseURL, file.Tunnel, file.NgrokAuthtoken = "file-key-123", "https://file.example/", "local", "ngrok-file"
		}
		if mask&8 != 0 {
			env[EnvNgrokToken] = "ngrok-env"
		}
		if mask&16 != 0 {
			if err := Save(dir, file); err != nil {
				t.Fatal(err)
			}
		} else if err := os.Remove(filepath.Join(dir, FileName)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		getenv := func(k string) string { return env[k] }
		c, err := Resolve(flagKey, getenv)
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Setting{}
		for _, s := range Effective(loaded, dir, flagKey, getenv) {
			got[s.Key] = s
		}
		tunnel := c.Tunnel
		if tunnel == "" {
			tunnel = DefaultTunnel
		}
		for k, want := range map[string]string{"api_key": c.APIKey, "base_url": c.BaseURL, "ngrok_authtoken": c.NgrokAuthtoken, "tunnel": tunnel} {
			if got[k].Value != want {
				t.Errorf("mask %05b: %s = %q (%s), Resolve says %q", mask, k, got[k].Value, got[k].Source(), want)
			}
		}
		if src := got["api_key"].Source(); c.APIKeySource == "" && src != OriginUnset || c.APIKeySource != "" && got["api_key"].Origin != c.APIKeySource {
			t.Errorf("mask %05b: api_key from %q, Resolve says %q", mask, src, c.APIKeySource)
		}
	}
}

func TestSettingSource(t *testing.T) {
	s := Effective(&File{BaseURL: "https://x.example"}, "/cfg", "", func(k string) string {
		if k == EnvAPIKey {
			return "k-123456789"
		}
		return ""
	})
	want := []string{"env " + EnvAPIKey, "file " + filepath.Join("/cfg", FileName), OriginUnset, OriginDefault}
	for i, w := range want {
		if got := s[i].Source(); got != w {
			t.Errorf("%s: source %q, want %q", s[i].Key, got, w)
		}
	}
}
