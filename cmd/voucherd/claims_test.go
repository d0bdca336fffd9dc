package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// serveProcess starts voucherd serve on a ledger (-data DIR or -db URL
// -key-file FILE) as a real process and returns its URL and the process.
func serveProcess(t *testing.T, ledger []string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append(append([]string{"serve"}, ledger...), "-listen", "127.0.0.1:0")...)
	cmd.Env = append(os.Environ(), "VOUCHERD_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) < 4 || !strings.HasPrefix(f[3], "http://") {
		t.Fatalf("no banner: %q, %v", line, err)
	}
	return f[3], cmd
}

type claimAnswer struct {
	status int // 0: no answer (the connection broke)
	issued issuing.Issued
	code   string
}

func postClaim(c *http.Client, url, key, holder string) claimAnswer {
	body := fmt.Sprintf(`{"holder":%q,"category":"retail","spend_fen":20000,"off_fen":4000}`, holder)
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/claims", strings.NewReader(body))
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		return claimAnswer{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return claimAnswer{}
	}
	a := claimAnswer{status: resp.StatusCode}
	if a.status == http.StatusCreated {
		_ = json.Unmarshal(b, &a.issued)
	} else {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		a.code = e.Error.Code
	}
	return a
}

// TestVoucherd_ClaimsSurviveKill: 1,000 concurrent claimers on a drop of
// 100, and voucherd killed (SIGKILL) in the middle of the stampede. After
// the restart every claim answered 201 exists, no refused claim does, a
// claim whose answer was lost is found again with its Idempotency-Key, and
// the pool adds up: exactly 100 issued in the end, never more.
func TestVoucherd_ClaimsSurviveKill(t *testing.T) {
	for _, engine := range []string{"bolt", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ledger := []string{"-data", t.TempDir()}
			if engine == "postgres" {
				ledger = []string{"-db", pgtest.DB(t), "-key-file", filepath.Join(t.TempDir(), "issuing.key")}
			}
			claimsSurviveKill(t, ledger)
		})
	}
}

func claimsSurviveKill(t *testing.T, ledger []string) {
	admin := func(args ...string) []string { return append(args, ledger...) }
	voucherd(t, 0, admin("init")...)
	today := terminal.Day(time.Now()).Format(time.DateOnly)
	voucherd(t, 0, admin("round", "add", "-id", "stampede", "-from", today, "-until", today,
		"-budget", "retail=100000,fuel=1,appliance=1,hospitality=1")...)
	voucherd(t, 0, admin("drop", "add", "-category", "retail", "-spend", "200", "-off", "40", "-count", "100", "-at", "00:00")...)
	url, cmd := serveProcess(t, ledger)

	const n = 1000
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	answers := make([]claimAnswer, n)
	var created atomic.Int32
	killed := make(chan struct{})
	go func() {
		for created.Load() < 10 {
			time.Sleep(time.Millisecond)
		}
		_ = cmd.Process.Kill() // SIGKILL, mid-stampede
		close(killed)
	}()
	var wg gosync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = postClaim(c, url, fmt.Sprintf("key-%d", i), fmt.Sprintf("holder-%d", i))
			if answers[i].status == http.StatusCreated {
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	<-killed
	_ = cmd.Wait()
	lost := 0
	for _, a := range answers {
		if a.status == 0 {
			lost++
		}
	}
	t.Logf("before the kill: %d answered 201, %d answers lost", created.Load(), lost)
	if lost == 0 {
		t.Fatal("the kill came after the stampede: nothing was in flight")
	}

	url, _ = serveProcess(t, ledger)
	exists := map[int]terminal.VoucherID{}
	for i := range n {
		resp, err := c.Get(url + "/v1/claims?holder=" + fmt.Sprintf("holder-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Vouchers []issuing.Issued `json:"vouchers"`
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || len(got.Vouchers) > 1 {
			t.Fatalf("holder %d: %+v, %v", i, got, err)
		}
		if len(got.Vouchers) == 1 {
			exists[i] = got.Vouchers[0].VoucherID
		}
	}
	for i, a := range answers {
		switch {
		case a.status == http.StatusCreated && exists[i] != a.issued.VoucherID:
			t.Errorf("claim %d answered 201 with %s; after the restart: %s", i, a.issued.VoucherID, exists[i])
		case a.status != http.StatusCreated && a.status != 0 && exists[i] != 0:
			t.Errorf("claim %d refused (%d %s) but voucher %s exists", i, a.status, a.code, exists[i])
		}
	}
	if len(exists) > 100 {
		t.Fatalf("%d vouchers from a drop of 100", len(exists))
	}
	// The platform retries the claims whose answer was lost, with their keys.
	unanswered := 0
	for i, a := range answers {
		if a.status == 0 && exists[i] != 0 {
			unanswered++
		}
	}
	t.Logf("after the restart: %d claims exist, %d of them committed but never answered", len(exists), unanswered)
	for i, a := range answers {
		if a.status != 0 {
			continue
		}
		b := postClaim(c, url, fmt.Sprintf("key-%d", i), fmt.Sprintf("holder-%d", i))
		switch {
		case exists[i] != 0 && (b.status != http.StatusCreated || b.issued.VoucherID != exists[i]):
			t.Errorf("retry of %d: %d %s, want its voucher %s", i, b.status, b.issued.VoucherID, exists[i])
		case b.status == http.StatusCreated:
			exists[i] = b.issued.VoucherID
		case b.status != http.StatusConflict || b.code != string(terminal.SoldOut):
			t.Errorf("retry of %d: %d %s", i, b.status, b.code)
		}
	}
	ids := map[terminal.VoucherID]bool{}
	for _, id := range exists {
		ids[id] = true
	}
	if len(exists) != 100 || len(ids) != 100 {
		t.Fatalf("%d claims, %d distinct vouchers; want exactly 100", len(exists), len(ids))
	}
	var pool bytes.Buffer
	pool.WriteString(voucherd(t, 0, "pool", "-server", url, "-format", "json"))
	var p issuing.Pool
	if err := json.Unmarshal(pool.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if err := terminal.CheckPool(p.Lines); err != nil {
		t.Fatal(err)
	}
	if l := p.Lines[0]; l.Category != terminal.Retail || l.ReleasedFen != terminal.Yuan(4000) || l.ClaimedFen != terminal.Yuan(4000) {
		t.Fatalf("retail pool %+v", l)
	}
}
