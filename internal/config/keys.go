package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Keys are the settings the config file holds, in the order `mlab config
// list` shows them.
var Keys = []string{"api_key", "base_url", "ngrok_authtoken", "tunnel"}

// Tunnel modes a config file may name (url mode needs --public-url, a flag).
var tunnelModes = []string{"auto", "ngrok", "local", "none"}

// Path returns the config file's path inside dir.
func Path(dir string) string { return filepath.Join(dir, FileName) }

// IsKey reports whether key is one of [Keys].
func IsKey(key string) bool {
	for _, k := range Keys {
		if k == key {
			return true
		}
	}
	return false
}

// IsSecret reports whether key holds a secret that is shown masked.
func IsSecret(key string) bool { return key == "api_key" || key == "ngrok_authtoken" }

// EnvFor returns the environment variable that overrides key.
func EnvFor(key string) string {
	switch key {
	case "api_key":
		return EnvAPIKey
	case "base_url":
		return EnvBaseURL
	case "ngrok_authtoken":
		return EnvNgrokToken
	case "tunnel":
		return EnvTunnel
	}
	return ""
}

// UnknownKeyError is returned for a key that is not one of [Keys].
type UnknownKeyError struct{ Key string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("unknown config key %q: use one of %s", e.Key, strings.Join(Keys, ", "))
}

// Get returns the value of key in the file ("" when unset).
func (f *File) Get(key string) (string, error) {
	switch key {
	case "api_key":
		return f.APIKey, nil
	case "base_url":
		return f.BaseURL, nil
	case "ngrok_authtoken":
		return f.NgrokAuthtoken, nil
	case "tunnel":
		return f.Tunnel, nil
	}
	return "", &UnknownKeyError{Key: key}
}

// Set checks value and stores it under key; "" unsets the key. Values are
// trimmed; a base_url must be an absolute http(s) URL and a tunnel one of
// auto, ngrok, local or none.
func (f *File) Set(key, value string) error {
	value = strings.TrimSpace(value)
	if !IsKey(key) {
		return &UnknownKeyError{Key: key}
	}
	if value != "" {
		if err := validate(key, value); err != nil {
			return err
		}
	}
	switch key {
	case "api_key":
		f.APIKey = value
	case "base_url":
		f.BaseURL = strings.TrimRight(value, "/")
	case "ngrok_authtoken":
		f.NgrokAuthtoken = value
	case "tunnel":
		f.Tunnel = strings.ToLower(value)
	}
	return nil
}

func validate(key, value string) error {
	switch key {
	case "base_url":
		u, err := url.Parse(value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("base_url %q: want an absolute http(s) URL such as %s", value, DefaultBaseURL)
		}
	case "tunnel":
		v := strings.ToLower(value)
		for _, m := range tunnelModes {
			if v == m {
				return nil
			}
		}
		return fmt.Errorf("tunnel %q: use one of %s (url mode needs --public-url on the command line)", value, strings.Join(tunnelModes, ", "))
	default:
		if strings.ContainsAny(value, " \t\r\n") {
			return fmt.Errorf("%s must not contain spaces or line breaks", key)
		}
	}
	return nil
}

// Mask hides a secret for display: the first 3 and last 4 characters of a
// long one ("sk-…3f9a"), nothing of one shorter than 16 ("…").
func Mask(s string) string {
	if s == "" {
		return ""
	}
	n := utf8.RuneCountInString(s)
	if n < 16 {
		return "…"
	}
	r := []rune(s)
	return string(r[:3]) + "…" + string(r[n-4:])
}

// knownKeys are the JSON names of File's fields.
var knownKeys = map[string]bool{"api_key": true, "base_url": true, "ngrok_authtoken": true, "tunnel": true}

// UnmarshalJSON reads the known keys and keeps the others, so a rewrite
// (Save) does not lose settings written by a newer mlab or by hand.
func (f *File) UnmarshalJSON(b []byte) error {
	type plain File
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*f = File(p)
	for k, v := range all {
		if knownKeys[k] {
			continue
		}
		if f.extra == nil {
			f.extra = map[string]json.RawMessage{}
		}
		f.extra[k] = v
	}
	return nil
}

// MarshalJSON writes the known keys (empty ones left out) and any unknown
// keys read from the file, sorted by name.
func (f File) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(f.extra)+4)
	for k, v := range f.extra {
		m[k] = v
	}
	for _, k := range Keys {
		if v, _ := f.Get(k); v != "" {
			m[k] = v
		}
	}
	return json.Marshal(m) // map keys come out sorted

}
