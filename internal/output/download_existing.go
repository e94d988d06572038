package output

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// How one Download call names its files and treats the files of the same
// name already in its directory (DownloadOptions.Name and .Existing).

// nameFor is the final name of entry i: from the name template when there
// is one, else the name inspect chose (urlName, the URL's sanitised name
// or the fallback, with an extension when it had none).
func (d *downloader) nameFor(i int, urlName, inspected string) string {
	if d.name == nil {
		return inspected
	}
	if n := d.name.Expand(d.job, i+1, d.total, urlName, filepath.Ext(inspected)); n != "" {
		return n
	}
	return inspected
}

// plannedName is entry i's final name when it is known without a request:
// an http(s) URL whose file name has an extension (inspect keeps it).
func (d *downloader) plannedName(i int, u string) (string, bool) {
	pu, err := url.Parse(strings.TrimSpace(u))
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		return "", false
	}
	base := sanitizeName(path.Base(pu.Path))
	if base == "" || filepath.Ext(base) == "" {
		return "", false
	}
	return d.nameFor(i, base, base), true
}

// exists reports a regular file called name in the directory that this
// call did not write.
func (d *downloader) exists(name string) bool {
	full := filepath.Join(d.dir, name)
	d.mu.Lock()
	mine := d.claimed[full]
	d.mu.Unlock()
	if mine {
		return false
	}
	st, err := os.Stat(full)
	return err == nil && st.Mode().IsRegular()
}

// claim records a path this call wrote or kept.
func (d *downloader) claim(p string) {
	d.mu.Lock()
	d.claimed[p] = true
	d.mu.Unlock()
}

func (d *downloader) isClaimed(p string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.claimed[p]
}

// keep reports a file kept in place of a download (ExistingSkip).
func (d *downloader) keep(p string) {
	d.claim(p)
	if d.s != nil {
		d.s.Infof("%s is already there: kept, not downloaded", Safe(p))
	}
}

// place moves the complete temporary file tmp to its final name: over a
// file of that name with ExistingOverwrite (never over one of this call's
// own), else to the first free "-N" variant, saying so when the name was
// taken by a file that was there before.
func (d *downloader) place(tmp, name string) (string, error) {
	full := filepath.Join(d.dir, name)
	if d.existing == ExistingOverwrite && !d.isClaimed(full) {
		if st, err := os.Lstat(full); err == nil && st.IsDir() {
			return "", fmt.Errorf("%s is a directory: not replaced", full)
		}
		if err := os.Rename(tmp, full); err != nil {
			return "", err
		}
		d.claim(full)
		return full, nil
	}
	p, err := finalize(tmp, d.dir, name)
	if err != nil {
		return "", err
	}
	d.claim(p)
	if p != full && !d.isClaimed(full) && d.s != nil {
		d.s.Warnf("%s already exists: saved as %s (--overwrite replaces it, --skip-existing keeps it)", Safe(full), Safe(p))
	}
	return p, nil
}
