// Package browsertest drives Debian's headless Chromium over the Chrome
// DevTools Protocol for the browser tests of the cashier screen, the
// wallet and the county's console: one page, JavaScript evaluated in it,
// real mouse clicks and typing, JavaScript dialogs answered, screenshots.
// A test that needs it fails, never skips, on a machine without Chromium
// or a Chinese font: .ci/run installs both.
package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Page is one page of a headless Chromium the test started.
type Page struct {
	t  testing.TB
	ws *websocket.Conn
	id int
	// Dialog answers a JavaScript alert, confirm or prompt the page opens
	// (true: OK) and is told its message; nil fails the test on any dialog.
	Dialog func(message string) bool
}

// Chromium starts headless Chromium (1024×600) with a DevTools port and
// returns its first page; both end with the test.
func Chromium(t testing.TB) *Page {
	t.Helper()
	var bin string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("no chromium on PATH: install Debian's chromium (apt-get install chromium), as .ci/run does")
	}
	// The profile directory is the browser's own, not t.TempDir: Chromium's
	// helper processes may still write to it for a moment after the
	// browser is killed, and t.TempDir's removal fails the test then.
	profile, err := os.MkdirTemp("", "browsertest-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=1024,600",
		"--user-data-dir="+profile, "--remote-debugging-port=0", "about:blank")
	// Its own process group, killed whole: the renderers and helpers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		removeProfile(t, profile)
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var browserURL string
	select {
	case browserURL = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not start its DevTools endpoint")
	}
	host := strings.TrimPrefix(browserURL, "ws://")
	host = host[:strings.Index(host, "/")]
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	for range 50 {
		resp, err := http.Get("http://" + host + "/json/list")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
		}
		if err == nil && len(targets) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			ws, _, err := websocket.DefaultDialer.Dial(tg.WS, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ws.Close() })
			p := &Page{t: t, ws: ws}
			p.Call("Page.enable", nil, nil) // for the dialogs' events
			return p
		}
	}
	t.Fatal("no page target in chromium")
	return nil
}

// CJKFont fails the test when the machine has no Chinese font: every
// character would be a box, on screen and in the pictures. .ci/run
// installs fonts-wqy-microhei.
func CJKFont(t testing.TB) {
	t.Helper()
	out, err := exec.Command("fc-list", ":lang=zh", "family").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("no CJK font (fc-list :lang=zh: %v): apt-get install fonts-wqy-microhei (or fonts-noto-cjk), as .ci/run does", err)
	}
}

// Call sends a DevTools method and decodes its result into result (if not
// nil). Meanwhile it answers the page's JavaScript dialogs with Dialog.
func (p *Page) Call(method string, params any, result any) {
	p.t.Helper()
	p.id++
	want := p.id
	p.send(want, method, params)
	_ = p.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var m struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := p.ws.ReadJSON(&m); err != nil {
			p.t.Fatalf("%s: %v", method, err)
		}
		if m.Method == "Page.javascriptDialogOpening" {
			var d struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(m.Params, &d)
			if p.Dialog == nil {
				p.send(0, "Page.handleJavaScriptDialog", map[string]any{"accept": false})
				p.t.Fatalf("%s: the page opened an unexpected dialog: %q", method, d.Message)
			}
			p.id++
			p.send(p.id, "Page.handleJavaScriptDialog", map[string]any{"accept": p.Dialog(d.Message)})
			continue
		}
		if m.ID != want {
			continue // another event, or the answer to a dialog's handling
		}
		if m.Error != nil {
			p.t.Fatalf("%s: %s", method, m.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(m.Result, result); err != nil {
				p.t.Fatal(err)
			}
		}
		return
	}
}

func (p *Page) send(id int, method string, params any) {
	p.t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	if err := p.ws.WriteJSON(map[string]any{"id": id, "method": method, "params": params}); err != nil {
		p.t.Fatal(err)
	}
}

// Eval evaluates a JavaScript expression in the page and returns its value.
func (p *Page) Eval(expr string) any {
	p.t.Helper()
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
	}
	p.Call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	return r.Result.Value
}

// WaitFor polls expr until it is true; what names it in the failure.
func (p *Page) WaitFor(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if v, _ := p.Eval(expr).(bool); v {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("page never showed %s; body: %v", what, p.Eval("document.body.innerText"))
}

// Navigate loads url and waits until the document is complete.
func (p *Page) Navigate(url string) {
	p.t.Helper()
	p.Call("Page.navigate", map[string]any{"url": url}, nil)
	p.WaitFor(url, `document.readyState === "complete" && location.href !== "about:blank"`)
}

// Size sets the page's viewport to width × height CSS pixels.
func (p *Page) Size(width, height int) {
	p.t.Helper()
	p.Call("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
}

// Click scrolls the element matching the CSS selector into view and
// clicks its middle with the mouse, as a person would: what covers it
// gets the click, a disabled button ignores it, its form validates.
func (p *Page) Click(sel string) {
	p.t.Helper()
	xy, _ := p.Eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return "";
		e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect();
		return (r.left + r.width / 2) + " " + (r.top + r.height / 2) })()`, sel)).(string)
	var x, y float64
	if _, err := fmt.Sscan(xy, &x, &y); err != nil {
		p.t.Fatalf("no %s on the page; body: %v", sel, p.Eval("document.body.innerText"))
	}
	p.Call("Input.dispatchMouseEvent", map[string]any{"type": "mouseMoved", "x": x, "y": y}, nil)
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		p.Call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": x, "y": y, "button": "left", "clickCount": 1}, nil)
	}
}

// Type focuses the element matching the CSS selector and types text into
// it as keyboard input.
func (p *Page) Type(sel, text string) {
	p.t.Helper()
	if ok, _ := p.Eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.focus(); return document.activeElement === e })()`, sel)).(bool); !ok {
		p.t.Fatalf("no %s to type into; body: %v", sel, p.Eval("document.body.innerText"))
	}
	p.Call("Input.insertText", map[string]any{"text": text}, nil)
}

// Screenshot saves the page's viewport as a PNG file.
func (p *Page) Screenshot(path string) {
	p.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	p.Call("Page.captureScreenshot", map[string]any{"format": "png"}, &r)
	b, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// removeProfile removes a browser's profile directory, trying again for a
// few seconds while the killed helpers' last writes land; a directory left
// behind is logged, not a failure of the test.
func removeProfile(t testing.TB, dir string) {
	var err error
	for range 50 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("browser profile %s left behind: %v", dir, err)
}
