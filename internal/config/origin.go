package config

import (
	"strings"
)

// Where a setting's effective value comes from (Setting.Origin).
const (
	OriginFlag    = "flag"
	OriginEnv     = "env"
	OriginFile    = "file"
	OriginDefault = "default"
	OriginUnset   = "unset"
)

// DefaultTunnel is what an unset tunnel means.
const DefaultTunnel = "auto"

// Setting is one key's effective value and where it comes from.
type Setting struct {
	Key    string
	Value  string
	Origin string // OriginFlag, OriginEnv, OriginFile, OriginDefault or OriginUnset
	// Where names the source: the flag (--api-key), the environment
	// variable, or the config file's path; "" for a default or unset key.
	Where string
}

// Source is "flag --api-key", "env MODELSLAB_API_KEY", "file PATH",
// "default" or "unset".
func (s Setting) Source() string {
	if s.Where == "" {
		return s.Origin
	}
	return s.Origin + " " + s.Where
}

// Effective returns every key of [Keys], in order, with the value
// [Resolve] gives it from flagKey (--api-key), the environment and the
// config file f in dir, and where that value comes from.
func Effective(f *File, dir, flagKey string, getenv func(string) string) []Setting {
	if f == nil {
		f = &File{}
	}
	path := Path(dir)
	pick := func(key string, flag, file, def string, clean func(string) string) Setting {
		env := EnvFor(key)
		s := Setting{Key: key, Origin: OriginUnset}
		switch {
		case flag != "":
			s.Value, s.Origin, s.Where = flag, OriginFlag, "--api-key"
		case getenv(env) != "":
			s.Value, s.Origin, s.Where = getenv(env), OriginEnv, env
		case file != "":
			s.Value, s.Origin, s.Where = file, OriginFile, path
		case def != "":
			s.Value, s.Origin = def, OriginDefault
		}
		if clean != nil {
			s.Value = clean(s.Value)
		}
		return s
	}
	out := make([]Setting, 0, len(Keys))
	for _, k := range Keys {
		switch k {
		case "api_key":
			out = append(out, pick(k, flagKey, f.APIKey, "", strings.TrimSpace))
		case "base_url":
			out = append(out, pick(k, "", f.BaseURL, DefaultBaseURL, func(s string) string { return strings.TrimRight(s, "/") }))
		case "ngrok_authtoken":
			out = append(out, pick(k, "", f.NgrokAuthtoken, "", strings.TrimSpace))
		case "tunnel":
			out = append(out, pick(k, "", f.Tunnel, DefaultTunnel, nil))
		}
	}
	return out
}
