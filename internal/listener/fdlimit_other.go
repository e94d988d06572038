//go:build !unix

package listener

// fdLimit: no descriptor limit to read here; assume a common one.
func fdLimit() int { return 1024 }
