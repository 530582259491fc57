// Package buildinfo says which build of hookvault is running, for --version, the start-up
// line and the hookvault_build_info metric: a bug report or a dashboard then names the
// commit, not just "the server".
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version and Revision, when set at link time, win over what Go records: a release built
// outside a git checkout names itself, and `make build` names the commit also where Go
// cannot stamp it (a git worktree, GOFLAGS=-buildvcs=false):
//
//	go build -ldflags "-X github.com/hookvault/hookvault/internal/buildinfo.Version=v1.2.3" ./cmd/hookvault
var Version, Revision string

// Info identifies a build.
type Info struct {
	Version   string // the -ldflags Version, else the module version ("(devel)" in a checkout)
	Revision  string // the git commit, "unknown" when Go could not stamp it (-buildvcs=false, no git)
	Modified  bool   // built from a checkout with uncommitted changes
	GoVersion string
}

// Read returns the running binary's Info.
func Read() Info {
	info := Info{Version: Version, Revision: Revision, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Revision == "" {
					info.Revision = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" { // a test binary records no main module version
		info.Version = "(devel)"
	}
	if info.Revision == "" {
		info.Revision = "unknown"
	}
	return info
}

// String is the one line `hookvault --version` prints.
func (i Info) String() string {
	rev := i.Revision
	if i.Modified {
		rev += " (modified)"
	}
	return fmt.Sprintf("hookvault %s, revision %s, %s", i.Version, rev, i.GoVersion)
}
