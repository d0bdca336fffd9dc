// Package buildinfo says what a binary is: the module version, the VCS
// revision it was built from and when that revision was committed, read
// from the build information the Go toolchain embeds. Every binary's
// -version prints Info.String, and posagent reports Info.Short to the
// server at the handshake.
package buildinfo

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is what the toolchain recorded about a build.
type Info struct {
	// Path is the main package's import path.
	Path string
	// Version is the main module's version; "(devel)" for a build from a
	// checkout rather than from a tagged module.
	Version string
	// Revision is the VCS revision; empty when the build did not stamp it
	// (go run, go test, -buildvcs=false, no git).
	Revision string
	// Time is when that revision was committed (RFC 3339); empty as Revision.
	Time string
	// Modified is true when the working tree had uncommitted changes.
	Modified bool
	// Go is the toolchain version, OS/Arch the target.
	Go, OS, Arch string
}

// Read returns the running binary's build information.
func Read() Info {
	in := Info{Version: "(unknown)", Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	return parse(bi, in)
}

func parse(bi *debug.BuildInfo, in Info) Info {
	in.Path = bi.Path
	if bi.Main.Version != "" {
		in.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		case "GOOS":
			in.OS = s.Value
		case "GOARCH":
			in.Arch = s.Value
		}
	}
	if bi.GoVersion != "" {
		in.Go = bi.GoVersion
	}
	return in
}

// Short is the version and revision in one word ("(devel)+1a2b3c4d5e6f",
// "+dirty" when modified), for logs and the fleet view.
func (in Info) Short() string {
	s := in.Version
	if in.Revision != "" {
		s += "+" + shortRev(in.Revision)
		if in.Modified {
			s += "-dirty"
		}
	}
	return s
}

// String is what -version prints for program:
//
//	posagent (devel) revision 1a2b3c4d5e6f (committed 2026-12-02T19:00:00Z) go1.26.8 linux/amd64
func (in Info) String(program string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", program, in.Version)
	if in.Revision == "" {
		b.WriteString(" revision unknown (built without VCS stamping)")
	} else {
		fmt.Fprintf(&b, " revision %s", in.Revision)
		if in.Modified {
			b.WriteString(" with uncommitted changes")
		}
		if in.Time != "" {
			fmt.Fprintf(&b, " (committed %s)", in.Time)
		}
	}
	fmt.Fprintf(&b, " %s %s/%s", in.Go, in.OS, in.Arch)
	return b.String()
}

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

// Handle prints program's version on w and returns true when args ask for
// it (-version or --version alone); each binary calls it first.
func Handle(args []string, program string, w io.Writer) bool {
	if len(args) != 1 || (args[0] != "-version" && args[0] != "--version") {
		return false
	}
	fmt.Fprintln(w, Read().String(program))
	return true
}
