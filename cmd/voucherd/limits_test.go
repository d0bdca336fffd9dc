package main

import (
	"bufio"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/wire"
)

// startServe runs `voucherd serve` on dir as a real process (the test
// binary as voucherd, see TestMain) and returns it and its base URL.
func startServe(t *testing.T, dir string, extra ...string) (*exec.Cmd, string, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	cmd := exec.Command(os.Args[0], append([]string{"serve", "-data", dir, "-listen", "127.0.0.1:0"}, extra...)...)
	cmd.Env = append(os.Environ(), "VOUCHERD_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no banner: %v", err)
	}
	f := strings.Fields(line)
	if len(f) < 4 || !strings.Contains(f[3], "://") {
		t.Fatalf("banner %q", line)
	}
	return cmd, f[3], logs
}

// lockedBuffer collects a process's stderr while the test reads it.
type lockedBuffer struct {
	mu gosync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// procKiB reads a "VmXxx:  N kB" line of /proc/PID/status.
func procKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.Atoi(strings.Fields(v)[0])
			if err != nil {
				t.Fatalf("%s: %q", field, l)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestServe_PreAuthMemory: 200 strangers each open the sync websocket and
// send an 8 MiB frame instead of a hello. The server reads a few KiB of
// each (refusing any beyond its cap of unauthenticated connections, 1,024
// by default; sync/hub's TestHub_Unauthenticated runs into it), and its
// resident memory (peak, from /proc) grows by less than 64 MiB; it still
// answers afterwards.
func TestServe_PreAuthMemory(t *testing.T) {
	dir := t.TempDir()
	voucherd(t, 0, "init", "-data", dir)
	cmd, base, logs := startServe(t, dir)
	pid := cmd.Process.Pid
	if resp, err := http.Get(base + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	before := procKiB(t, pid, "VmRSS")
	frame := make([]byte, 8<<20)
	wsURL := "ws" + strings.TrimPrefix(base, "http") + wire.Path
	var wg gosync.WaitGroup
	var refused, cut, other atomic.Int32
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := websocket.Dialer{HandshakeTimeout: 20 * time.Second}
			ws, resp, err := d.Dial(wsURL, nil)
			if err != nil {
				if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
					refused.Add(1)
				} else {
					other.Add(1)
					t.Logf("dial: %v", err)
				}
				return
			}
			defer ws.Close()
			_ = ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
			werr := ws.WriteMessage(websocket.BinaryMessage, frame)
			_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					var ce *websocket.CloseError
					if werr != nil || errors.As(err, &ce) {
						cut.Add(1)
					} else {
						other.Add(1)
						t.Logf("read: %v", err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	peak := procKiB(t, pid, "VmHWM")
	t.Logf("RSS before %d KiB, peak after %d KiB (growth %d KiB); %d refused with 503, %d cut off, %d other",
		before, peak, peak-before, refused.Load(), cut.Load(), other.Load())
	if growth := peak - before; growth >= 64<<10 {
		t.Errorf("RSS grew by %d KiB, want under 64 MiB", growth)
	}
	if cut.Load() == 0 || refused.Load()+cut.Load() != 200 {
		t.Errorf("%d refused + %d cut off of 200 (%d other)", refused.Load(), cut.Load(), other.Load())
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("server after the flood: %v %v", resp, err)
	}
	resp.Body.Close()
	// 200 refusals, a few lines of log: the rest are counted, not printed.
	if n := strings.Count(logs.String(), "\n"); n > 12 {
		t.Errorf("%d log lines for 200 refusals:\n%s", n, logs.String())
	}
}
