package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Path: "github.com/voucherpos/voucherpos/cmd/posagent",
		Main: debug.Module{Path: "github.com/voucherpos/voucherpos", Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d"},
			{Key: "vcs.time", Value: "2026-12-02T19:00:00Z"}, {Key: "vcs.modified", Value: "true"},
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm"}}}
	in := parse(bi, Info{})
	if got, want := in.String("posagent"), "posagent (devel) revision 1a2b3c4d5e6f7a8b9c0d with uncommitted changes (committed 2026-12-02T19:00:00Z) go1.26.8 linux/arm"; got != want {
		t.Errorf("String:\n got %s\nwant %s", got, want)
	}
	if got, want := in.Short(), "(devel)+1a2b3c4d5e6f-dirty"; got != want {
		t.Errorf("Short: got %s, want %s", got, want)
	}
	in = parse(&debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, Info{Version: "(unknown)", Go: "go1.26.8", OS: "linux", Arch: "amd64"})
	if got := in.String("voucherd"); !strings.Contains(got, "v1.2.0 revision unknown") {
		t.Errorf("unstamped: %s", got)
	}
	if in.Short() != "v1.2.0" {
		t.Errorf("unstamped Short: %s", in.Short())
	}
}
