// Command mlab runs ModelsLab generation jobs from the command line: submit,
// wait by webhook (through an embedded tunnel) or by polling, download.
package main

import (
	"os"
	"runtime/debug"

	"github.com/mlabcli/mlab/cmd"
)

// Set by the release build (-ldflags "-X main.version=...").
var (
	version = ""
	commit  = ""
	date    = ""
)

func main() {
	os.Exit(cmd.Main(buildInfo()))
}

func buildInfo() cmd.BuildInfo {
	bi := cmd.BuildInfo{Version: version, Commit: commit, Date: date}
	if info, ok := debug.ReadBuildInfo(); ok {
		if bi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && bi.Commit == "":
				bi.Commit = s.Value
			case s.Key == "vcs.time" && bi.Date == "":
				bi.Date = s.Value
			}
		}
	}
	if bi.Version == "" {
		bi.Version = "dev"
	}
	if bi.Commit == "" {
		bi.Commit = "none"
	}
	if bi.Date == "" {
		bi.Date = "unknown"
	}
	return bi
}
