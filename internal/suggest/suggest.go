// Package suggest finds the choice a person most likely meant: the
// "did you mean --wait?" of every usage error.
package suggest

import "strings"

// Closest is the choice nearest to v: one it starts, one that starts it,
// or one a few edits away (case aside); "" when none is near enough to be
// what was meant.
func Closest(v string, choices []string) string {
	lv := strings.ToLower(v)
	best, bestD := "", 1+len(lv)/4+1 // at most 1+len/4 edits
	for _, c := range choices {
		lc := strings.ToLower(c)
		d := Distance(lv, lc)
		if len(lv) >= 3 && (strings.HasPrefix(lc, lv) || strings.HasPrefix(lv, lc)) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the optimal string alignment distance of a and b (bytes):
// insertions, deletions, substitutions and swaps of neighbours.
func Distance(a, b string) int {
	rows := [3][]int{make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)}
	for j := range rows[1] {
		rows[1][j] = j
	}
	for i := 1; i <= len(a); i++ {
		pp, prev, cur := rows[(i+2)%3], rows[i%3], rows[(i+1)%3] // rows i-2, i-1, i
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
	}
	return rows[(len(a)+1)%3][len(b)]
}
