//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd || windows)

package journal

import "os"

// lockFile is a no-op where no advisory file lock is available to the
// standard library (plan9, solaris, aix, js, wasip1): goroutines of one
// process are still serialised by the in-process lock, other processes are
// not.
func lockFile(f *os.File, exclusive bool) error { return nil }

func unlockFile(f *os.File) error { return nil }

// osLocking reports whether lockFile excludes other processes.
const osLocking = false
