package jsonfilter

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func applyT(t *testing.T, jf *Filter, doc string, tty bool) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	err := jf.Apply(context.Background(), &buf, []byte(doc), tty)
	return buf.String(), err
}

func TestJQFilter(t *testing.T) {
	doc := `{"id":"134701497","status":"success","output":["https://x/a.png?x=1&y=2","https://x/b.png"],"files":[],"eta":12345678901234567890,"meta":null}`
	cases := map[string]string{
		`.id`:                         "134701497\n",
		`.output[]`:                   "https://x/a.png?x=1&y=2\nhttps://x/b.png\n", // raw, not HTML-escaped
		`.files`:                      "[]\n",
		`{id, n: (.output | length)}`: `{"id":"134701497","n":2}` + "\n",
		`.eta`:                        "12345678901234567890\n", // numbers exact
		`.meta`:                       "null\n",
		`empty`:                       "",
		`.id, halt`:                   "134701497\n",
		`select(.status == "failed")`: "",
	}
	for q, want := range cases {
		jf, err := CompileJQ(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		got, err := applyT(t, jf, doc, false)
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", q, got, err, want)
		}
	}
}

func TestJQErrors(t *testing.T) {
	for q, want := range map[string]string{
		`.files[`: `unexpected EOF at column`,
		`.[]]`:    `unexpected token "]"`,
		` `:       "empty query",
		`nosuch`:  "function not defined: nosuch/0",
	} {
		if _, err := CompileJQ(q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("compile %q: %v, want %q", q, err, want)
		}
	}
	jf, _ := CompileJQ(`.id | keys`)
	_, err := applyT(t, jf, `{"id":"1"}`, false)
	var fe *Error
	if !errors.As(err, &fe) || fe.Flag != "--jq" || !strings.Contains(err.Error(), "keys cannot be applied") {
		t.Fatalf("runtime error: %v", err)
	}
	jf, _ = CompileJQ(`error("boom")`)
	if _, err := applyT(t, jf, `{}`, false); !errors.As(err, &fe) {
		t.Fatalf("error(): %v", err)
	}
}

// A filter never sees mlab's secrets in $ENV; raw strings are made safe on
// a terminal (an escape from an API message must not reach it).
func TestJQEnvAndTerminal(t *testing.T) {
	t.Setenv("MODELSLAB_API_KEY", "sk-secret-123456")
	t.Setenv("NGROK_AUTHTOKEN", "ngrok-secret")
	t.Setenv("MLAB_JQ_TEST", "visible")
	jf, err := CompileJQ(`[$ENV.MODELSLAB_API_KEY, env.NGROK_AUTHTOKEN, $ENV.MLAB_JQ_TEST]`)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := applyT(t, jf, `{}`, false)
	if got != `[null,null,"visible"]`+"\n" {
		t.Fatalf("$ENV: %s", got)
	}
	jf, _ = CompileJQ(`.message`)
	doc := `{"message":"\u001b]0;pwned\u0007 red"}`
	if got, _ := applyT(t, jf, doc, true); strings.Contains(got, "\x1b") || !strings.Contains(got, `\x1b]0;pwned`) {
		t.Fatalf("terminal: %q", got)
	}
	if got, _ := applyT(t, jf, doc, false); !strings.Contains(got, "\x1b]0;pwned") {
		t.Fatalf("pipe: raw text changed: %q", got)
	}
}

func TestTemplateFilter(t *testing.T) {
	doc := `{"id":"7","status":"success","files":["out/a.png","out/b.png"],"output":[{"u":"x"},{"u":"y"}],"submitted_at":"2026-01-02T03:04:05Z","prompt":"a lighthouse at dusk"}`
	cases := map[string]string{
		`{{.id}}`:                                   "7\n",
		"{{.id}}\n":                                 "7\n", // no second newline
		`{{join ", " .files}}`:                      "out/a.png, out/b.png\n",
		`{{json .files}}`:                           `["out/a.png","out/b.png"]` + "\n",
		`{{join "," (pluck "u" .output)}}`:          "x,y\n",
		`{{truncate 7 .prompt}}`:                    "a ligh…\n",
		`{{timefmt "2006-01-02" .submitted_at}}`:    "2026-01-02\n",
		`{{upper .status}} {{lower "ABC"}}`:         "SUCCESS abc\n",
		`{{range .files}}{{.}};{{end}}`:             "out/a.png;out/b.png;\n",
		`{{if eq .status "failed"}}x{{end}}`:        "",
		`{{timeago .submitted_at | printf "%.3s"}}`: "",
	}
	for src, want := range cases {
		jf, err := CompileTemplate(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := applyT(t, jf, doc, false)
		if src == `{{timeago .submitted_at | printf "%.3s"}}` {
			if err != nil || !strings.HasSuffix(got, "\n") || len(got) < 2 {
				t.Errorf("timeago: %q %v", got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", src, got, err, want)
		}
	}
	for _, bad := range []string{`{{.id`, `{{nosuch .id}}`, ``} {
		if _, err := CompileTemplate(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
	jf, _ := CompileTemplate(`{{join "," .id}}`)
	_, err := applyT(t, jf, doc, false)
	var fe *Error
	if !errors.As(err, &fe) || fe.Flag != "--template" || !strings.Contains(err.Error(), "want a list") {
		t.Fatalf("runtime error: %v", err)
	}
}
