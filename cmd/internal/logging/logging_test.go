package logging

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f := Register(fs)
	if err := fs.Parse([]string{"-log-format", "json", "-log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	log, err := f.New(&b)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped")
	Printf(log)("kept %d", 1) // Info: below warn, dropped too
	log.Warn("disk low", "free_mb", 12)
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["msg"] != "disk low" || rec["free_mb"] != 12.0 {
		t.Fatalf("got %q (%v)", b.String(), err)
	}
	for _, bad := range []Flags{{Format: "xml", Level: "info"}, {Format: "text", Level: "loud"}} {
		if _, err := bad.New(&b); err == nil || !strings.Contains(err.Error(), "want") {
			t.Errorf("%+v: got %v, want an error naming the choices", bad, err)
		}
	}
}
