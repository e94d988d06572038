package cmd

import "github.com/spf13/pflag"

// OutputFlags are the result and file flags every job command shares
// (issue 16): filters of the printed result and how downloaded files are
// named and kept.
type OutputFlags struct{}

// addOutputFlags defines the OutputFlags on fl.
func addOutputFlags(fl *pflag.FlagSet, o *OutputFlags) {}
