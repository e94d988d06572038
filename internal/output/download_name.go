package output

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Existing says what [Download] does when a file of the name it picked is
// already in the directory (one that this call did not write).
type Existing int

const (
	// ExistingRename keeps the file; the new one gets "-1", "-2", ...
	// before its extension, and a warning on standard error says so.
	ExistingRename Existing = iota
	// ExistingOverwrite replaces the file (atomically: a rename over it).
	ExistingOverwrite
	// ExistingSkip keeps the file and returns its path as the output's,
	// without downloading the output (at most its headers are read, when
	// the name depends on its type).
	ExistingSkip
)

// NameVars describe the job whose outputs are downloaded, for a
// [NameTemplate].
type NameVars struct {
	ID, TrackID, Prompt, Endpoint string
	Line                          int // the --batch input line, 0 otherwise
}

// NameTemplate names downloaded files from the job they belong to: a text
// with placeholders {id}, {track_id}, {endpoint}, {line}, {prompt} (slugged
// and bounded), {name} (the URL's file name, without its extension), {n}
// (the output's number, from 1) and {ext} (its extension, without the
// dot). The expanded name is sanitised like a URL's (no path separators,
// no "..", no control characters). Without {ext}, the extension is
// appended (unless the name ends with it already); without {n}, a job with
// several outputs gets "-N" before the extension, so its files never
// collide with each other.
type NameTemplate struct {
	parts        []namePart
	hasN, hasExt bool
}

type namePart struct {
	lit string
	v   string // placeholder name, "" for a literal
}

// nameVarNames are the placeholders a NameTemplate knows.
var nameVarNames = []string{"id", "track_id", "endpoint", "line", "prompt", "name", "n", "ext"}

// maxPromptSlug bounds {prompt}, in bytes.
const maxPromptSlug = 48

// ParseNameTemplate parses a --name template.
func ParseNameTemplate(s string) (*NameTemplate, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty name template (try {id}-{n}.{ext})")
	}
	t := &NameTemplate{}
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, namePart{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, namePart{lit: rest[:i]})
		}
		if rest[i] == '}' {
			return nil, fmt.Errorf("%q: a } without its {", s)
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: a { without its }", s)
		}
		name := rest[i+1 : i+end]
		if !contains(nameVarNames, name) {
			return nil, fmt.Errorf("%q: unknown placeholder {%s} (known: {%s})", s, name, strings.Join(nameVarNames, "}, {"))
		}
		t.hasN = t.hasN || name == "n"
		t.hasExt = t.hasExt || name == "ext"
		t.parts = append(t.parts, namePart{v: name})
		rest = rest[i+end+1:]
	}
	// Separators alone make no name: "{id}" is fine, "/" is not.
	if len(t.parts) == 1 && t.parts[0].v == "" && sanitizeName(t.parts[0].lit) == "" {
		return nil, fmt.Errorf("%q is not a usable file name", s)
	}
	return t, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Expand returns the file name of output n (from 1) of total, whose URL
// gave the name urlName (sanitised, with its extension ext, e.g. ".png"
// or ""), or "" when nothing usable is left (the caller falls back).
func (t *NameTemplate) Expand(v NameVars, n, total int, urlName, ext string) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.v {
		case "":
			b.WriteString(p.lit)
		case "id":
			b.WriteString(v.ID)
		case "track_id":
			b.WriteString(v.TrackID)
		case "endpoint":
			b.WriteString(v.Endpoint)
		case "line":
			b.WriteString(strconv.Itoa(v.Line))
		case "prompt":
			b.WriteString(Slug(v.Prompt, maxPromptSlug))
		case "name":
			b.WriteString(strings.TrimSuffix(urlName, filepath.Ext(urlName)))
		case "n":
			b.WriteString(strconv.Itoa(n))
		case "ext":
			b.WriteString(strings.TrimPrefix(ext, "."))
		}
	}
	name := b.String()
	if !t.hasN && total > 1 {
		name += "-" + strconv.Itoa(n)
	}
	if !t.hasExt && !strings.HasSuffix(strings.ToLower(name), strings.ToLower(ext)) {
		name += ext // "{id}" names out/123.png; "shot.png" stays shot.png
	}
	return sanitizeName(name)
}

// Slug makes text a short file-name part: lower-case letters and digits
// (any script), every other run of characters one "-", at most max bytes
// (cut at a "-" when one is near the end).
func Slug(text string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(text) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	s := b.String()
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	s = s[:cut]
	if i := strings.LastIndexByte(s, '-'); i > max/2 {
		s = s[:i]
	}
	return strings.Trim(s, "-")
}
