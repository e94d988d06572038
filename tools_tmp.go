//go:build tools

package main

// This file pins the module graph until every dependency has a real importer; it is removed once they do.

import (
	_ "github.com/charmbracelet/lipgloss"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "golang.ngrok.com/muxado/v2"
	_ "golang.ngrok.com/ngrok/v2"
	_ "golang.org/x/term"
)

func main() {}
