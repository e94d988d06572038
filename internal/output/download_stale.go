package output

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Part files are named partPrefix + partHexLen lowercase hex digits +
// partSuffix by createTemp.
const (
	partPrefix = ".mlab-"
	partSuffix = ".part"
	partHexLen = 16
)

// stalePartAge is how long a part file may go unwritten before a later
// [Download] into its directory removes it as the leftover of a killed
// process.
//
// The rule is the file's modification time, not the id of the process
// that made it: a live download writes its part file continuously, so its
// modification time stays fresh however long the transfer runs, while a
// process id means nothing across machines or containers sharing the
// directory, may have been reused, and cannot be checked portably. A
// transfer that writes nothing for an hour has long been stopped by its
// own timeouts; should one still be alive, it fails cleanly when it
// finds its part file gone.
const stalePartAge = time.Hour

// isPartName reports whether name is exactly of the pattern createTemp
// uses, so that no other file is ever taken for a part file.
func isPartName(name string) bool {
	mid, ok := strings.CutPrefix(name, partPrefix)
	if !ok {
		return false
	}
	mid, ok = strings.CutSuffix(mid, partSuffix)
	if !ok || len(mid) != partHexLen {
		return false
	}
	for i := 0; i < len(mid); i++ {
		if c := mid[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// removeStaleParts deletes the regular files in dir named like part files
// and unmodified for stalePartAge before now. It is best effort: a
// directory it cannot read or a file it cannot remove is left alone, as
// the download itself does not depend on it. Symbolic links and
// directories are never touched.
func removeStaleParts(dir string, now time.Time) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !isPartName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < stalePartAge {
			continue
		}
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
}
