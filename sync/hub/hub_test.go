package hub_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

var day = time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)

// noon is the test day's noon: the hub's clock in the tests, and when their records are made.
var noon = day.Add(12 * time.Hour)

// MustOpen opens a hub on a fresh directory and closes it at cleanup.
func MustOpen(tb testing.TB, opts hub.Options) (*hub.Hub, string) {
	tb.Helper()
	dir := tb.TempDir()
	opts.Create = true
	opts.Logf = tb.Logf
	if opts.Now == nil {
		// The server's clock at the test day's noon, when the tests' records
		// are made: the server bounds a record's time by its own clock.
		opts.Now = func() time.Time { return noon }
	}
	h, err := boltstore.OpenHub(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := h.Close(); err != nil {
			tb.Error(err)
		}
	})
	return h, dir
}

func TestHub_Open(t *testing.T) {
	t.Run("ErrNotInitialised", func(t *testing.T) {
		if _, err := boltstore.OpenHub(t.TempDir(), hub.Options{}); !errors.Is(err, hub.ErrNotInitialised) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrLocked", func(t *testing.T) {
		h, dir := MustOpen(t, hub.Options{})
		_ = h
		if _, err := boltstore.Open(dir, boltstore.Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, hub.ErrLocked) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("SameKey", func(t *testing.T) {
		dir := t.TempDir()
		h, err := boltstore.OpenHub(dir, hub.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		id := h.KeyID()
		h.Close()
		h, err = boltstore.OpenHub(dir, hub.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if h.KeyID() != id {
			t.Errorf("key id changed: %s → %s", id, h.KeyID())
		}
	})
}

func TestHub_RotateKey(t *testing.T) {
	dir := t.TempDir()
	h, err := boltstore.OpenHub(dir, hub.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, identity := h.KeyID(), h.PublicKey()
	from, until := terminal.ClaimDay(day)
	req := hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(50), OffFen: terminal.Yuan(10), From: from, Until: until}
	old, _ := h.Mint(ctx, req)
	id, err := h.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id == first || h.KeyID() != id || !h.PublicKey().Equal(identity) {
		t.Fatalf("after rotation: key id %s (was %s, returned %s), identity changed %v", h.KeyID(), first, id, !h.PublicKey().Equal(identity))
	}
	fresh, _ := h.Mint(ctx, req)
	if v, _ := terminal.ParseCode(fresh[0]); v.KeyID != id {
		t.Errorf("minted with key %s, want %s", v.KeyID, id)
	}
	h.Close()
	h, err = boltstore.OpenHub(dir, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.KeyID() != id {
		t.Errorf("after reopen: key id %s, want %s", h.KeyID(), id)
	}
	if v, _ := terminal.ParseCode(old[0]); v.KeyID != first {
		t.Errorf("old code key %s", v.KeyID)
	}
}

func TestHub_Mint(t *testing.T) {
	h, _ := MustOpen(t, hub.Options{})
	ctx := context.Background()
	from, until := terminal.ClaimDay(day)
	t.Run("OK", func(t *testing.T) {
		codes, err := h.Mint(ctx, hub.MintRequest{Category: terminal.Appliance, SpendFen: terminal.Yuan(3000),
			OffFen: terminal.Yuan(300), Holder: 1, From: from, Until: until, N: 500})
		if err != nil {
			t.Fatal(err)
		}
		kr, _ := terminal.NewKeyring(h.PublicKey())
		ids := map[terminal.VoucherID]bool{}
		for _, c := range codes {
			v, err := kr.Verify(c)
			if err != nil {
				t.Fatal(err)
			}
			if ids[v.ID] {
				t.Fatalf("voucher id %s minted twice", v.ID)
			}
			ids[v.ID] = true
			if v.Region != 140521 || v.Campaign != 202202 {
				t.Fatalf("region %d campaign %d", v.Region, v.Campaign)
			}
		}
	})
	for name, req := range map[string]hub.MintRequest{
		"NotADenomination": {Category: terminal.Retail, SpendFen: terminal.Yuan(100), OffFen: terminal.Yuan(10), From: from, Until: until},
		"EmptyValidity":    {Category: terminal.Retail, SpendFen: terminal.Yuan(50), OffFen: terminal.Yuan(10), From: until, Until: from},
		"TooMany":          {Category: terminal.Retail, SpendFen: terminal.Yuan(50), OffFen: terminal.Yuan(10), From: from, Until: until, N: hub.MaxMint + 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := h.Mint(ctx, req); !errors.Is(err, hub.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestHub_Admin(t *testing.T) {
	h, _ := MustOpen(t, hub.Options{})
	ctx := context.Background()
	if err := h.AddMerchant(ctx, terminal.Merchant{ID: "M1", Name: "x", Category: terminal.Fuel}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		err  error
		want error
	}{
		"MerchantExists":  {h.AddMerchant(ctx, terminal.Merchant{ID: "M1", Name: "y", Category: terminal.Fuel}), hub.ErrExists},
		"MerchantLove":    {h.AddMerchant(ctx, terminal.Merchant{ID: "M2", Name: "y", Category: terminal.Love}), hub.ErrInvalid},
		"MerchantSpace":   {h.AddMerchant(ctx, terminal.Merchant{ID: "M 2", Name: "y", Category: terminal.Fuel}), hub.ErrInvalid},
		"BlockUnknown":    {h.Block(ctx, "nobody"), hub.ErrUnknown},
		"TerminalUnknown": {func() error { _, err := h.AddTerminal(ctx, "nobody", "T1"); return err }(), hub.ErrUnknown},
		"RevokeUnknown":   {h.RevokeTerminal(ctx, "T9"), hub.ErrUnknown},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, tc.err, tc.want)
		}
	}
	cred, err := h.AddTerminal(ctx, "M1", "T1")
	if err != nil {
		t.Fatal(err)
	}
	if err := cred.Check(); err != nil || !cred.ServerKey.Equal(h.PublicKey()) {
		t.Fatalf("credential %+v: %v", cred, err)
	}
	if _, err := h.AddTerminal(ctx, "M1", "T1"); !errors.Is(err, hub.ErrExists) {
		t.Errorf("terminal twice: %v", err)
	}
}

// The admin API answers loopback callers only, unless a token is set; then
// only callers with the token.
func TestHub_AdminAuth(t *testing.T) {
	open, _ := MustOpen(t, hub.Options{})
	tok, _ := MustOpen(t, hub.Options{AdminToken: "s3cret"})
	get := func(h *hub.Hub, remote, auth string) int {
		r := httptest.NewRequest(http.MethodGet, "/admin/report?day=2022-10-01", nil)
		r.RemoteAddr, r.Host = remote, "127.0.0.1:8443"
		if auth != "" {
			r.Header.Set("Authorization", "Bearer "+auth)
		}
		w := httptest.NewRecorder()
		h.Handler().ServeHTTP(w, r)
		return w.Code
	}
	for _, tc := range []struct {
		name   string
		h      *hub.Hub
		remote string
		auth   string
		want   int
	}{
		{"Loopback", open, "127.0.0.1:5000", "", 200},
		{"LoopbackV6", open, "[::1]:5000", "", 200},
		{"Remote", open, "192.0.2.7:5000", "", 403},
		{"TokenMissing", tok, "127.0.0.1:5000", "", 403},
		{"TokenWrong", tok, "192.0.2.7:5000", "guess", 403},
		{"Token", tok, "192.0.2.7:5000", "s3cret", 200},
	} {
		if got := get(tc.h, tc.remote, tc.auth); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
	// A browser on a foreign page cannot act through a loopback caller.
	for _, tc := range []struct {
		name, host, origin, site, ctype, body string
		want                                  int
	}{
		{"Good", "127.0.0.1:8443", "", "", "application/json", `{"id":"M9","name":"x","category":"retail"}`, 200},
		{"SameOrigin", "localhost:8443", "http://localhost:8443", "same-origin", "application/json", `{"id":"M8","name":"x","category":"retail"}`, 200},
		{"BadJSON", "127.0.0.1:8443", "", "", "application/json", `{"category":`, 400},
		{"Null", "127.0.0.1:8443", "", "", "application/json", `null`, 400},
		{"Empty", "127.0.0.1:8443", "", "", "application/json", ``, 400},
		{"DNSRebinding", "evil.example:8443", "", "", "application/json", `{"id":"M7","name":"x","category":"retail"}`, 421},
		{"CrossOrigin", "127.0.0.1:8443", "http://evil.example", "", "application/json", `{"id":"M7","name":"x","category":"retail"}`, 403},
		{"NullOrigin", "127.0.0.1:8443", "null", "", "application/json", `{"id":"M7","name":"x","category":"retail"}`, 403},
		{"CrossSite", "127.0.0.1:8443", "", "cross-site", "application/json", `{"id":"M7","name":"x","category":"retail"}`, 403},
		{"FormPost", "127.0.0.1:8443", "", "", "application/x-www-form-urlencoded", `{"id":"M7","name":"x","category":"retail"}`, 415},
		{"TextPlain", "127.0.0.1:8443", "", "", "text/plain", `{"id":"M7","name":"x","category":"retail"}`, 415},
	} {
		r := httptest.NewRequest(http.MethodPost, "/admin/merchants", strings.NewReader(tc.body))
		r.RemoteAddr, r.Host = "127.0.0.1:1", tc.host
		r.Header.Set("Content-Type", tc.ctype)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		w := httptest.NewRecorder()
		open.Handler().ServeHTTP(w, r)
		if w.Code != tc.want || (w.Code != 200 && !strings.Contains(w.Body.String(), `"error"`)) {
			t.Errorf("%s: %d %s, want %d", tc.name, w.Code, w.Body, tc.want)
		}
	}
	if err := open.AddMerchant(context.Background(), terminal.Merchant{ID: "M7", Name: "x", Category: terminal.Retail, Region: 140521}); err != nil {
		t.Errorf("a refused request added merchant M7: %v", err)
	}
}

// rawTerminal speaks the protocol by hand, to send what a good client never would.
type rawTerminal struct {
	t    *testing.T
	ws   *websocket.Conn
	cred wire.Credential
	key  ed25519.PrivateKey
}

func dialRaw(t *testing.T, srv *httptest.Server, cred wire.Credential) (*rawTerminal, *wire.Message) {
	t.Helper()
	return dialRawHigh(t, srv, cred, 0)
}

// dialRawHigh is dialRaw with a hello that reports the terminal's highest sequence.
func dialRawHigh(t *testing.T, srv *httptest.Server, cred wire.Credential, high uint64) (*rawTerminal, *wire.Message) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+wire.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	rt := &rawTerminal{t: t, ws: ws, cred: cred, key: cred.PrivateKey()}
	ch := rt.read()
	rt.write(&wire.Message{Type: wire.TypeHello, TerminalID: cred.TerminalID, MerchantID: cred.MerchantID, HighSeq: high,
		Sig: ed25519.Sign(rt.key, wire.HelloMessage(ch.Nonce, cred.TerminalID, cred.MerchantID))})
	return rt, rt.read()
}

func (r *rawTerminal) read() *wire.Message {
	r.t.Helper()
	_ = r.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := r.ws.ReadMessage()
	if err != nil {
		r.t.Fatal(err)
	}
	m, err := wire.Decode(b)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

func (r *rawTerminal) write(m *wire.Message) {
	b, _ := wire.Encode(m)
	if err := r.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		r.t.Fatal(err)
	}
}

// closeCode reads until the server closes and returns the code and reason.
func (r *rawTerminal) closeCode() (int, string) {
	_ = r.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := r.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		if err != nil {
			r.t.Fatalf("no close frame: %v", err)
		}
	}
}

// seal makes the terminal's records seq from..from+n-1 after prev.
func (r *rawTerminal) seal(prev [32]byte, from uint64, bodies ...string) []terminal.Sealed {
	var out []terminal.Sealed
	for i, b := range bodies {
		s := terminal.Seal(r.key, prev, from+uint64(i), []byte(b))
		out = append(out, s)
		prev = s.Hash
	}
	return out
}

func body(term, merchant string, seq uint64) string {
	return fmt.Sprintf(`{"id":%q,"kind":"refund","seq":%d,"terminal_id":%q,"merchant_id":%q,"at":"2022-10-01T12:00:00+08:00","refund_of":"x"}`,
		terminal.RecordID(term, seq), seq, term, merchant)
}

// TestHub_BacklogWindow: a terminal that connects with more than a window
// of records to send (Window × BatchMax) is given twice the window; one
// with less, the window.
func TestHub_BacklogWindow(t *testing.T) {
	th := hubWithTerminals(t, hub.Options{Window: 4, BatchMax: 10}, 0, 0, 0, "T1")
	srv, cred := th.srv, th.creds[0]
	for _, c := range []struct {
		high   uint64
		window int
	}{{0, 4}, {40, 4}, {41, 8}, {5000, 8}} {
		r, welcome := dialRawHigh(t, srv, cred, c.high)
		if welcome.Type != wire.TypeWelcome || welcome.Window != c.window {
			t.Errorf("high seq %d: welcome %s with window %d, want %d", c.high, welcome.Type, welcome.Window, c.window)
		}
		r.ws.Close()
	}
}

// An idle connection holds one goroutine, its reader: the writer runs
// only while messages are queued. Thirty idle terminals add thirty
// goroutines; a state pushed to each (a block) is written, and after it
// they are back to one each.
func TestHub_IdleConnectionOneGoroutine(t *testing.T) {
	const n = 30
	var terms []string
	for i := range n {
		terms = append(terms, fmt.Sprintf("T%d", i))
	}
	th := hubWithTerminals(t, hub.Options{}, 0, 0, 0, terms...)
	h, srv, creds, ctx := th.h, th.srv, th.creds, context.Background()
	settled := func() int {
		t.Helper()
		// Goroutines end a little after their work: wait for a count that holds.
		last, same := -1, 0
		for range 200 {
			time.Sleep(20 * time.Millisecond)
			if g := runtime.NumGoroutine(); g == last {
				if same++; same == 5 {
					return g
				}
			} else {
				last, same = g, 0
			}
		}
		t.Fatal("the goroutine count does not settle")
		return 0
	}
	before := settled()
	var rs []*rawTerminal
	for _, c := range creds {
		r, _ := dialRaw(t, srv, c)
		rs = append(rs, r)
	}
	if got := settled() - before; got != n {
		t.Errorf("%d idle connections hold %d goroutines, want %d", n, got, n)
	}
	if err := h.Block(ctx, "M1"); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if m := r.read(); m.Type != wire.TypeState || m.State == nil || !m.State.Merchant.Blocked {
			t.Fatalf("after the block: %s %+v", m.Type, m.State)
		}
	}
	if got := settled() - before; got != n {
		t.Errorf("after a push, %d idle connections hold %d goroutines, want %d", n, got, n)
	}
}

// The welcome is the first message a connection gets after the challenge,
// even with states pushed to the merchant's terminals while it shakes
// hands (the push finds the connection registered before its welcome is
// written): what was queued goes after it.
func TestHub_WelcomeBeforePushes(t *testing.T) {
	th := hubWithTerminals(t, hub.Options{}, 0, 0, 0, "T1")
	h, srv, cred, ctx := th.h, th.srv, th.creds[0], context.Background()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for blocked := true; ; blocked = !blocked {
			select {
			case <-stop:
				return
			default:
			}
			if blocked {
				_ = h.Block(ctx, "M1")
			} else {
				_ = h.Unblock(ctx, "M1")
			}
		}
	}()
	for range 40 {
		r, welcome := dialRaw(t, srv, cred)
		if welcome.Type != wire.TypeWelcome {
			t.Errorf("first message after the challenge: %s, want welcome", welcome.Type)
		}
		r.ws.Close()
	}
	close(stop)
	<-done
}

// Records that break the chain, carry a bad signature or claim another
// terminal or merchant are refused whole with close code 4409, and nothing
// of them is stored.
func TestHub_Rejects(t *testing.T) {
	h, _ := MustOpen(t, hub.Options{})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx := context.Background()
	if err := h.AddMerchant(ctx, terminal.Merchant{ID: "M1", Name: "x", Category: terminal.Retail}); err != nil {
		t.Fatal(err)
	}
	if err := h.AddMerchant(ctx, terminal.Merchant{ID: "M2", Name: "y", Category: terminal.Retail}); err != nil {
		t.Fatal(err)
	}
	cred, _ := h.AddTerminal(ctx, "M1", "T1")
	cases := map[string]func(r *rawTerminal) []terminal.Sealed{
		"OtherMerchant": func(r *rawTerminal) []terminal.Sealed {
			return r.seal([32]byte{}, 1, body("T1", "M2", 1))
		},
		"OtherTerminal": func(r *rawTerminal) []terminal.Sealed {
			return r.seal([32]byte{}, 1, body("T2", "M1", 1))
		},
		"BrokenChain": func(r *rawTerminal) []terminal.Sealed {
			recs := r.seal([32]byte{}, 1, body("T1", "M1", 1), body("T1", "M1", 2))
			recs[1] = terminal.Seal(r.key, [32]byte{9}, 2, recs[1].Body)
			return recs
		},
		"AlteredBody": func(r *rawTerminal) []terminal.Sealed {
			recs := r.seal([32]byte{}, 1, body("T1", "M1", 1))
			recs[0].Body = []byte(strings.Replace(string(recs[0].Body), "12:00", "13:00", 1))
			return recs
		},
		"BadSignature": func(r *rawTerminal) []terminal.Sealed {
			recs := r.seal([32]byte{}, 1, body("T1", "M1", 1))
			recs[0].Sig = make([]byte, 64)
			return recs
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			r, welcome := dialRaw(t, srv, cred)
			if welcome.Type != wire.TypeWelcome || welcome.Watermark != 0 {
				t.Fatalf("welcome %+v", welcome)
			}
			b, err := wire.AppendBatch(nil, mk(r))
			if err != nil {
				t.Fatal(err)
			}
			if err := r.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
				t.Fatal(err)
			}
			if code, reason := r.closeCode(); code != wire.CloseRejected {
				t.Errorf("close %d %q, want %d", code, reason, wire.CloseRejected)
			}
			if w, _ := h.Watermark(ctx, "T1"); w != 0 {
				t.Errorf("watermark %d after a rejected batch", w)
			}
		})
	}
	t.Run("Accepted", func(t *testing.T) {
		r, _ := dialRaw(t, srv, cred)
		b, _ := wire.AppendBatch(nil, r.seal([32]byte{}, 1, body("T1", "M1", 1), body("T1", "M1", 2)))
		if err := r.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
		ack := r.read()
		// Stored, each a conflict: a refund of no sale (refund_of "x").
		if ack.Type != wire.TypeAck || ack.Watermark != 2 || len(ack.Outcomes) != 2 || ack.Outcomes[1].Result != terminal.Conflict ||
			ack.Outcomes[1].Code != terminal.RefundMismatch {
			t.Fatalf("ack %+v", ack)
		}
		// A resend of the same records comes back with the same outcome: a
		// conflict is never hidden behind "duplicate".
		if err := r.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
		if ack := r.read(); ack.Outcomes[0].Result != terminal.Conflict || ack.Outcomes[0].Code != terminal.RefundMismatch {
			t.Fatalf("resend: %+v", ack)
		}
		// A different record under a stored sequence (an altered ledger):
		// the terminal is forked; the record is kept, as a conflict with
		// code fork, apart from the chain the server holds.
		first := r.seal([32]byte{}, 1, body("T1", "M1", 1))
		fork := r.seal(first[0].Hash, 2, strings.Replace(body("T1", "M1", 2), "12:00", "18:00", 1))
		b, _ = wire.AppendBatch(nil, append(first, fork...))
		if err := r.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
		if ack := r.read(); len(ack.Outcomes) != 2 || ack.Outcomes[1].Result != terminal.Conflict || ack.Outcomes[1].Code != terminal.Fork {
			t.Fatalf("fork: %+v", ack)
		}
		if code, _ := r.closeCode(); code != wire.CloseFork {
			t.Errorf("close %d after the fork, want %d", code, wire.CloseFork)
		}
		if w, _ := h.Watermark(ctx, "T1"); w != 2 {
			t.Errorf("the chain the server holds moved to %d", w)
		}
		_, welcome := dialRaw(t, srv, cred)
		if welcome.State.Fork == "" {
			t.Errorf("welcome after the fork does not say so: %+v", welcome.State)
		}
		// An administrator resets the terminal: its kept chain is accepted.
		if err := h.ResetTerminal(ctx, "T1"); err != nil {
			t.Fatal(err)
		}
		if _, welcome := dialRaw(t, srv, cred); welcome.State.Fork != "" || welcome.Watermark != 2 {
			t.Errorf("welcome after the reset: watermark %d, fork %q", welcome.Watermark, welcome.State.Fork)
		}
	})
	t.Run("GapIsAFork", func(t *testing.T) {
		c9, err := h.AddTerminal(ctx, "M1", "T9")
		if err != nil {
			t.Fatal(err)
		}
		r, _ := dialRaw(t, srv, c9)
		b, _ := wire.AppendBatch(nil, r.seal([32]byte{}, 2, body("T9", "M1", 2)))
		if err := r.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
		if ack := r.read(); len(ack.Outcomes) != 1 || ack.Outcomes[0].Code != terminal.Fork {
			t.Fatalf("gap: %+v", ack)
		}
		if code, _ := r.closeCode(); code != wire.CloseFork {
			t.Errorf("close %d, want %d", code, wire.CloseFork)
		}
		if w, _ := h.Watermark(ctx, "T9"); w != 0 {
			t.Errorf("watermark %d after a gap", w)
		}
	})
	t.Run("Garbage", func(t *testing.T) {
		r, _ := dialRaw(t, srv, cred)
		if err := r.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"welcome"`)); err != nil {
			t.Fatal(err)
		}
		if code, _ := r.closeCode(); code != wire.CloseProtocol {
			t.Errorf("close %d, want %d", code, wire.CloseProtocol)
		}
	})
}
