// Package ids makes mlab's random identifiers: webhook path tokens,
// track_ids and batch ids, all from crypto/rand.
package ids

import (
	"crypto/rand"
	"encoding/hex"
)

// Hex returns n random bytes as 2n hex characters.
func Hex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b)
}

// Token is a fresh 128-bit webhook path token (32 hex characters).
func Token() string { return Hex(16) }

// TrackID is a fresh track_id: "mlab-" and 16 hex characters.
func TrackID() string { return "mlab-" + Hex(8) }

// BatchID is a fresh batch id: "b-" and 12 hex characters.
func BatchID() string { return "b-" + Hex(6) }
