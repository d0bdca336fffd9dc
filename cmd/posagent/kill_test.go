package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// killRounds is how many times TestKill_Complete kills the agent inside a
// complete; POSAGENT_KILLS overrides it.
const killRounds = 200

// TestKill_Complete kills a real posagent process with SIGKILL while it
// completes a voucher sale, again and again. After each restart the till
// retries the complete with its Idempotency-Key and asks for the checkout:
// every answer is the committed sale (the same redemption id as any answer
// the till got before the kill) or a definite "not committed", and the
// ledger holds exactly the sales answered as committed.
func TestKill_Complete(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills 200 agent processes")
	}
	rounds := killRounds
	if n, err := strconv.Atoi(os.Getenv("POSAGENT_KILLS")); err == nil && n > 0 {
		rounds = n
	}
	dir, cred, issuer := killSetup(t)
	bin := buildAgent(t)
	addr := freeAddr(t)
	base := "http://" + addr
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "-data", dir, "-credential", cred, "-scanner", "none", "-http", addr, "-log-level", "error")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for range 2000 {
			if resp, err := http.Get(base + "/api/v1/status"); err == nil {
				resp.Body.Close()
				return cmd
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("the agent never listened")
		return nil
	}
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	committed := map[string]string{} // checkout id → redemption id
	var before, notCommitted int
	cmd := start()
	for i := range rounds {
		coID := openWithVoucher(t, base, issuer, uint64(1000+i))
		key := fmt.Sprintf("till-key-%d", i)
		first := make(chan apiAnswer, 1)
		go func() { first <- call(base, "POST", "/api/v1/checkouts/"+coID+"/complete", key) }()
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		got := <-first
		cmd = start()
		retry := call(base, "POST", "/api/v1/checkouts/"+coID+"/complete", key)
		look := call(base, "GET", "/api/v1/checkouts/"+coID, "")
		switch {
		case retry.status == http.StatusOK && retry.co.Status == terminal.StatusCompleted && retry.co.RedemptionID != "":
			if look.status != http.StatusOK || look.co.RedemptionID != retry.co.RedemptionID {
				t.Fatalf("round %d: retry says %s, GET says %d %+v", i, retry.co.RedemptionID, look.status, look)
			}
			committed[coID] = retry.co.RedemptionID
		case retry.status == http.StatusNotFound && retry.code == "not_committed":
			if look.status != http.StatusNotFound || look.code != "not_committed" {
				t.Fatalf("round %d: retry says not committed, GET says %d %s", i, look.status, look.code)
			}
			notCommitted++
		default:
			t.Fatalf("round %d: retry after the restart answered %d %s %+v: want the committed sale or not_committed", i, retry.status, retry.code, retry.co)
		}
		if got.status == http.StatusOK {
			before++
			if got.co.RedemptionID != committed[coID] {
				t.Fatalf("round %d: answered %s before the kill, %q after", i, got.co.RedemptionID, committed[coID])
			}
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	t.Logf("%d kills inside complete: %d committed (%d of them answered before the kill), %d not committed", rounds, len(committed), before, notCommitted)

	c, err := wire.LoadCredential(cred)
	if err != nil {
		t.Fatal(err)
	}
	l, err := offline.Open(filepath.Join(dir, agent.LedgerFile), offline.Options{TerminalID: c.TerminalID,
		MerchantID: c.MerchantID, Key: c.PrivateKey(), Every: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if a, err := l.Verify(context.Background()); err != nil || a.Records != uint64(len(committed)) {
		t.Fatalf("ledger: %d records, %v; want the %d committed sales", a.Records, err, len(committed))
	}
	for coID, rid := range committed {
		r, err := l.Get(context.Background(), rid)
		if err != nil || r.CheckoutID != coID {
			t.Fatalf("%s: %+v, %v; want the sale of %s", rid, r, err, coID)
		}
	}
}

// apiAnswer is what the till read from one call.
type apiAnswer struct {
	status int
	code   string
	co     terminal.Checkout
}

func call(base, method, path, key string) apiAnswer {
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		return apiAnswer{}
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return apiAnswer{} // the agent died before it answered
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := apiAnswer{status: resp.StatusCode}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	a.code = e.Error.Code
	_ = json.Unmarshal(b, &a.co)
	return a
}

// openWithVoucher opens a checkout and applies a fresh voucher to it.
func openWithVoucher(t *testing.T, base string, issuer ed25519.PrivateKey, id uint64) string {
	t.Helper()
	body := `{"items":[{"sku":"rice","name":"大米","category":"grocery","qty":2,"unit_price_fen":12500}]}`
	resp, err := http.Post(base+"/api/v1/checkouts", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	var co terminal.Checkout
	err = json.NewDecoder(resp.Body).Decode(&co)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("open: %d %v", resp.StatusCode, err)
	}
	now := time.Now()
	code, err := terminal.Encode(terminal.Voucher{Version: 1, KeyID: terminal.KeyIDOf(issuer.Public().(ed25519.PublicKey)),
		ID: terminal.VoucherID(id), Holder: terminal.HolderID(id), Category: terminal.Retail, SpendFen: 20000, OffFen: 4000,
		ValidFrom: now.Add(-time.Hour).Truncate(time.Second), ValidUntil: now.Add(3 * time.Hour).Truncate(time.Second),
		Region: 140521, Campaign: 202202, Round: 1}, issuer)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"code": code})
	resp, err = http.Post(base+"/api/v1/checkouts/"+co.ID+"/vouchers", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&co)
	resp.Body.Close()
	if err != nil || co.Status != terminal.StatusVoucherApplied {
		t.Fatalf("apply voucher %d: %v %+v", id, err, co.Decline)
	}
	return co.ID
}

// killSetup writes a credential and a ledger holding a fresh server state
// (an issuer key, the merchant, limits wide enough for every round), so the
// agent redeems offline.
func killSetup(t *testing.T) (dir, cred string, issuer ed25519.PrivateKey) {
	t.Helper()
	dir = t.TempDir()
	c := wire.Credential{TerminalID: "T9", MerchantID: "M9", Seed: bytes.Repeat([]byte{9}, ed25519.SeedSize)}
	cred = filepath.Join(dir, "credential.json")
	if err := c.Write(cred); err != nil {
		t.Fatal(err)
	}
	issuer = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	l, err := offline.Open(filepath.Join(dir, agent.LedgerFile), offline.Options{TerminalID: "T9", MerchantID: "M9", Key: c.PrivateKey(), Every: -1})
	if err != nil {
		t.Fatal(err)
	}
	pub := issuer.Public().(ed25519.PublicKey)
	now := time.Now()
	st := terminal.ServerState{
		Merchant:   terminal.Merchant{ID: "M9", Name: "沁水百货", Category: terminal.Retail, Region: 140521},
		IssuerKeys: []terminal.IssuerKey{{ID: terminal.KeyIDOf(pub), Public: pub}},
		Params:     terminal.Params{OfflineLimitFen: terminal.Yuan(10_000_000)},
		ServerTime: now, LocalTime: now,
	}
	if err := l.SaveState(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, cred, issuer
}

// buildAgent builds posagent (without the race detector even when the
// tests run with it: the test kills and restarts it 200 times).
func buildAgent(t *testing.T, flags ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command on PATH to build posagent: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "posagent")
	if out, err := exec.Command(goBin, append(append([]string{"build"}, flags...), "-o", bin, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("build posagent: %v\n%s", err, out)
	}
	return bin
}
