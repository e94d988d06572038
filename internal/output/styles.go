package output

import "github.com/charmbracelet/lipgloss"

// Styles holds every lipgloss style mlab uses for text on standard error.
// Get them from [IOStreams.Styles]; commands never call lipgloss.NewStyle
// themselves, so the look of mlab is decided here, in makeStyles.
//
// The styles are bound to a renderer for standard error: when colour is
// off they render text unchanged (no escape codes at all).
type Styles struct {
	// Success marks things that worked ("✓").
	Success lipgloss.Style
	// Error marks failures ("error:", "✗").
	Error lipgloss.Style
	// Warn marks warnings ("!") and unfinished states.
	Warn lipgloss.Style
	// Muted is for secondary text (separators, hints).
	Muted lipgloss.Style
	// Bold emphasises a word.
	Bold lipgloss.Style
	// ID is for job ids and track ids.
	ID lipgloss.Style
	// URL is for links shown to people (never for results on stdout).
	URL lipgloss.Style
	// Header is for section titles.
	Header lipgloss.Style
}

// makeStyles builds all styles from one renderer. Only the 16 basic ANSI
// colours are used: they follow the user's terminal theme, need no
// background detection and look the same in every colour profile.
func makeStyles(r *lipgloss.Renderer) *Styles {
	return &Styles{
		Success: r.NewStyle().Foreground(lipgloss.Color("2")),
		Error:   r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		Warn:    r.NewStyle().Foreground(lipgloss.Color("3")),
		Muted:   r.NewStyle().Foreground(lipgloss.Color("8")),
		Bold:    r.NewStyle().Bold(true),
		ID:      r.NewStyle().Foreground(lipgloss.Color("6")),
		URL:     r.NewStyle().Foreground(lipgloss.Color("4")),
		Header:  r.NewStyle().Bold(true).Foreground(lipgloss.Color("5")),
	}
}
