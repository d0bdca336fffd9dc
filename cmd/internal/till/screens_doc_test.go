package till_test

import (
	"os"
	"strings"
	"testing"

	"github.com/voucherpos/voucherpos/terminal"
)

// TestScreensDoc: docs/screens.md's table lists every decline code's and
// every reason's message as the cashier reads it, in both languages.
func TestScreensDoc(t *testing.T) {
	b, err := os.ReadFile("../../../docs/screens.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	check := func(what string, e *terminal.Error) {
		for _, m := range []string{e.Message, e.MessageEN} {
			if !strings.Contains(doc, m) {
				t.Errorf("docs/screens.md lacks %s's message %q", what, m)
			}
		}
	}
	for _, c := range terminal.Codes {
		check(string(c), terminal.Errorf(c, ""))
		if !strings.Contains(doc, "`"+string(c)+"`") {
			t.Errorf("docs/screens.md lacks the code %s", c)
		}
	}
	for _, r := range terminal.Reasons {
		check(string(r), terminal.Declinef(terminal.OfflineLimit, r, ""))
		if !strings.Contains(doc, "`"+string(r)+"`") {
			t.Errorf("docs/screens.md lacks the reason %s", r)
		}
	}
}
