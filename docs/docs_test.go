// Package docs_test keeps the operator's documentation honest: it runs the
// shell blocks of server.md and install.md on this machine, and checks the
// shipped systemd units with systemd-analyze.
//
// How blocks run. Every ```sh block of server.md, then of install.md, goes
// into one bash script (set -euo pipefail) run in
// a scratch directory, so a server started in server.md is there for install.md. A
// block is left out when the line before its fence is an HTML comment
// starting "<!-- not run" that says why (systemctl, useradd, apt-get, udev:
// things that need the machine's root and its service manager). So that the
// blocks run unchanged without touching the machine, the script sees:
//   - /usr/local/bin/, /etc/, /var/lib/, /var/backups/ and dist/ under a
//     temporary root, and "go build" run in the repository (go -C; the
//     text is rewritten before it runs);
//   - 127.0.0.1:8443 and 127.0.0.1:8080 as free ports of this machine;
//   - $ROOT/usr/local/bin first on PATH, and GOFLAGS=-buildvcs=auto so the
//     build stamps the revision as on any clone.
//
// The blocks use the machine's curl and openssl (server.md's TLS section
// makes a self-signed certificate; the terminal then syncs over wss://): a
// machine without them fails the test, and .ci/run installs them.
//
// Background jobs the blocks start are killed when the script ends.
package docs_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Block is one shell block of a document.
type block struct {
	file string
	line int
	text string
}

// shellBlocks returns the ```sh blocks of the markdown file path that are
// not marked "<!-- not run", and the marked ones.
func shellBlocks(t *testing.T, path string) (run, skipped []block) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		bl := block{file: filepath.Base(path), line: start + 1, text: strings.Join(body, "\n")}
		if start > 0 && strings.HasPrefix(strings.TrimSpace(lines[start-1]), "<!-- not run") {
			skipped = append(skipped, bl)
			continue
		}
		run = append(run, bl)
	}
	return run, skipped
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestDocs runs the operator's documents' shell blocks (see the package
// comment) and checks what they print.
func TestDocs(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"usr/local/bin", "etc", "var/lib", "var/backups", "dist"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	work := t.TempDir()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	serverPort, agentPort := freePort(t), freePort(t)
	rewrite := strings.NewReplacer(
		"/usr/local/bin/", root+"/usr/local/bin/", " /etc/", " "+root+"/etc/", "=/etc/", "="+root+"/etc/",
		" /var/lib/", " "+root+"/var/lib/", " /var/backups/", " "+root+"/var/backups/",
		" dist/", " "+root+"/dist/", "go build ", "go -C "+repo+" build ", "127.0.0.1:8443", "127.0.0.1:"+serverPort, "127.0.0.1:8080", "127.0.0.1:"+agentPort)
	var script strings.Builder
	script.WriteString("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT\n")
	var ran []block
	for _, doc := range []string{"server.md", "install.md"} {
		run, skipped := shellBlocks(t, doc)
		if len(run) == 0 {
			t.Fatalf("%s: no shell block to run", doc)
		}
		for _, b := range skipped {
			t.Logf("%s:%d not run (marked)", b.file, b.line)
		}
		for _, b := range run {
			script.WriteString("echo '### " + b.file + ":" + strconv.Itoa(b.line) + "'\n")
			script.WriteString(rewrite.Replace(b.text) + "\n")
			ran = append(ran, b)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+root+"/usr/local/bin:"+os.Getenv("PATH"), "GOFLAGS=-buildvcs=auto", "ROOT="+root)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("script:\n%s", script.String())
		t.Fatalf("the documents' blocks failed: %v\n%s", err, last(out, 8000))
	}
	t.Logf("ran %d blocks:\n%s", len(ran), last(out, 8000))

	text := string(out)
	// -version after the build: "(devel)" from a plain build, a
	// pseudo-version when go stamps it from the checkout.
	if !regexp.MustCompile(`voucherd \S+ revision `).MatchString(text) {
		t.Errorf("the blocks' output lacks voucherd's -version line")
	}
	for _, want := range []string{
		"voucherd_decisions_total",      // curl of voucherd's /metrics
		"voucherd_connected_terminals",  //
		"TERMINAL  MERCHANT",            // voucherd terminal list
		"serving on https://",           // voucherd serve -tls-cert (server.md §5)
		"M1002-T1  M1002     online",    // the terminal synced over wss:// with the credential's CA
		"posagent_decisions_total",      // curl of posagent's /metrics
		"posagent_offline_exposure_fen", //
		"日报 Daily report",               // posagent report
		"verified",                      // posagent backup
		": sound: terminal M1002-T1",    // posagent verify
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the blocks' output lacks %q", want)
		}
	}
	// A checkout stamps its revision (go cannot from a linked worktree,
	// whose .git is a file).
	if fi, err := os.Stat("../.git"); err == nil && fi.IsDir() && strings.Contains(text, "revision unknown") {
		t.Errorf("-version printed no revision from a git checkout")
	}
}

func last(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

var exposure = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestUnits checks the shipped systemd units: systemd-analyze verify
// accepts them and their exposure score is at most 3.0 (printed).
func TestUnits(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: install Debian's systemd package (.ci/run does)")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../cmd/posagent", "../cmd/voucherd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	units := t.TempDir()
	for _, name := range []string{"posagent", "voucherd"} {
		unit, err := os.ReadFile(filepath.Join("systemd", name+".service"))
		if err != nil {
			t.Fatal(err)
		}
		if name == "posagent" && bytes.Contains(unit, []byte("network-online")) {
			t.Errorf("posagent.service waits for the network: the agent must start offline")
		}
		// verify wants the ExecStart binary to exist: point it at the build.
		unit = bytes.ReplaceAll(unit, []byte("/usr/local/bin/"+name), []byte(filepath.Join(bin, name)))
		path := filepath.Join(units, name+".service")
		if err := os.WriteFile(path, unit, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
		out, err := exec.Command(sa, "security", "--offline=yes", "--no-pager", path).CombinedOutput()
		m := exposure.FindSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security %s: %v\n%s", name, err, out)
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("%s.service: systemd-analyze security exposure %.1f (at most 3.0)", name, score)
		if score > 3.0 {
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "✗") {
					t.Log(sc.Text())
				}
			}
			t.Errorf("%s.service: exposure %.1f, want at most 3.0", name, score)
		}
	}
}

// TestReadmeLayout: the README's layout table names every package of the
// module, so a newcomer finds each one.
func TestReadmeLayout(t *testing.T) {
	out, err := exec.Command("go", "list", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(pkg, "github.com/voucherpos/voucherpos/")
		if !bytes.Contains(readme, []byte("`"+rel+"`")) && !bytes.Contains(readme, []byte("`"+rel+"/`")) {
			t.Errorf("README's layout table does not name %s", rel)
		}
	}
}
