package stack_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/voucherpos/voucherpos/cmd/internal/browsertest"
)

// cdp is a headless Chromium page (browsertest) with this package's
// helpers (screens_test.go).
type cdp struct {
	*browsertest.Page
	t *testing.T
}

// chromium starts headless Chromium and returns its page. The test fails
// (not skips) without a Chromium: .ci/run installs Debian's.
func chromium(t *testing.T) *cdp {
	t.Helper()
	return &cdp{Page: browsertest.Chromium(t), t: t}
}

func (c *cdp) call(method string, params, result any) {
	c.t.Helper()
	c.Call(method, params, result)
}

// eval evaluates a JavaScript expression in the page and returns its value.
func (c *cdp) eval(expr string) any {
	c.t.Helper()
	return c.Eval(expr)
}

// waitFor polls expr until it is true.
func (c *cdp) waitFor(what, expr string) {
	c.t.Helper()
	c.WaitFor(what, expr)
}

// screenshot saves the page as PNG under docs/screens when
// VOUCHERPOS_SCREENS is set (to regenerate the committed pictures), else
// in the test's temp directory.
func (c *cdp) screenshot(name string) {
	c.t.Helper()
	dir := c.t.TempDir()
	if os.Getenv("VOUCHERPOS_SCREENS") != "" {
		dir = filepath.Join("..", "..", "..", "..", "docs", "screens")
	}
	c.Screenshot(filepath.Join(dir, name))
}
