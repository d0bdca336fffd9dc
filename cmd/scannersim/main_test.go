package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tarm "github.com/tarm/serial"
)

// session runs scannersim in process with a pipe for stdin.
type session struct {
	t      *testing.T
	in     *io.PipeWriter
	out    *bufio.Reader
	stderr *bytes.Buffer
	done   chan int
}

func start(t *testing.T, args ...string) (*session, string) {
	t.Helper()
	link := filepath.Join(t.TempDir(), "scanner")
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, out: bufio.NewReader(outR), stderr: &bytes.Buffer{}, done: make(chan int, 1)}
	go func() {
		s.done <- run(context.Background(), append([]string{"-link", link}, args...), inR, outW, io.Discard)
		outW.Close()
	}()
	if got := s.line(); got != "ready "+link {
		t.Fatalf("first line %q", got)
	}
	t.Cleanup(func() { inW.Close() })
	return s, link
}

func (s *session) line() string {
	s.t.Helper()
	l, err := s.out.ReadString('\n')
	if err != nil {
		s.t.Fatalf("read answer: %v", err)
	}
	return strings.TrimSuffix(l, "\n")
}

// do sends a command and checks its answer.
func (s *session) do(cmd, want string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, cmd+"\n"); err != nil {
		s.t.Fatal(err)
	}
	if got := s.line(); !strings.HasPrefix(got, want) {
		s.t.Fatalf("%s: answer %q, want %q", cmd, got, want)
	}
}

// readExact reads n bytes from the port.
func readExact(t *testing.T, p *tarm.Port, n int) []byte {
	t.Helper()
	buf := make([]byte, 0, n)
	deadline := time.Now().Add(5 * time.Second)
	for len(buf) < n && time.Now().Before(deadline) {
		b := make([]byte, n-len(buf))
		k, _ := p.Read(b)
		buf = append(buf, b[:k]...)
	}
	return buf
}

func TestScannersim_Bytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"HoneywellDefault", nil, "VC1:ABC 123\r\n"},
		{"ZebraAsIs", []string{"-profile", "zebra"}, "VC1:ABC 123"},
		{"PrefixAIMCR", []string{"-prefix", "P:", "-aim", "-suffix", "cr"}, "P:]Q1VC1:ABC 123\r"},
		{"ETX", []string{"-suffix", "ETX", "-baud", "9600"}, "\x02VC1:ABC 123\x03"},
		{"ETXLowerCase", []string{"-suffix", "etx"}, "\x02VC1:ABC 123\x03"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, link := start(t, tc.args...)
			p, err := tarm.OpenPort(&tarm.Config{Name: link, Baud: 115200, ReadTimeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			s.do("scan VC1:ABC 123", "ok")
			if got := readExact(t, p, len(tc.want)); string(got) != tc.want {
				t.Fatalf("line got %q, want %q", got, tc.want)
			}
			s.do("quit", "ok")
			if code := <-s.done; code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

func TestScannersim_Commands(t *testing.T) {
	s, link := start(t, "-profile", "datalogic")
	p, err := tarm.OpenPort(&tarm.Config{Name: link, Baud: 9600, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.do("image ../../drivers/qrimage/testdata/voucher/rotated90.png", "ok")
	s.do("image main.go", "error: ")
	s.do("garbage 16", "ok")
	s.do("garbage x", "error: ")
	s.do("trigger", "noread")
	s.do("present VC1:P", "ok")
	s.do("trigger", "ok")
	s.do("bogus", "error: unknown command")
	s.do("unplug", "ok")
	s.do("scan VC1:X", "error: scanner unplugged")
	p.Close()
	s.do("plug", "ok")
	s.in.Close() // end of stdin quits
	if code := <-s.done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestScannersim_Flags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-h"}, 0, "usage: scannersim"},
		{[]string{"-bogus"}, 2, "scannersim: flag provided but not defined: -bogus\n"},
		{nil, 2, "scannersim: -link PATH is required (see -h)\n"},
		{[]string{"-link", "x", "-suffix", "CRCR"}, 2, "scannersim: -suffix: unknown suffix"},
		{[]string{"-link", "x", "-profile", "acme"}, 2, "scannersim: -profile: unknown profile"},
		{[]string{"-link", "x", "extra"}, 2, "scannersim: unexpected argument"},
		{[]string{"-link", "/nonexistent-dir/scanner"}, 1, "scannersim: firmwaresim: plug: link"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, strings.NewReader(""), &stdout, &stderr)
		got := stderr.String()
		if code == 0 {
			got = stdout.String()
		}
		if code != tc.code || !strings.HasPrefix(got, tc.out) {
			t.Errorf("%q: exit %d, output %q; want %d, %q", tc.args, code, got, tc.code, tc.out)
		}
		if code == 2 && strings.Count(got, "\n") != 1 {
			t.Errorf("%q: usage error is not one line: %q", tc.args, got)
		}
	}
}
