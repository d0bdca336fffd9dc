package client_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

func TestClient_Drain(t *testing.T) {
	s := mustServer(t, hub.Options{})
	creds := s.merchant("M1", "T1")
	l := mustLane(t, creds[0], s.url(), fastOpts()).firstSync()
	l.commit(s.mint(250), 50)
	waitSynced(t, s, l, 250)
	rep, err := s.hub.Report(context.Background(), day, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Total.Redemptions, 250; got != want {
		t.Errorf("report count %d, want %d", got, want)
	}
	if got, want := rep.Total.DiscountFen, terminal.Yuan(40*250); got != want {
		t.Errorf("report discount %s, want %s", got, want)
	}
	if st := l.client.Status(); !st.Online || st.LastSync.IsZero() || st.UnsyncedFen != 0 {
		t.Errorf("status %+v", st)
	}
}

// The same voucher redeemed offline on two terminals: exactly one accepted,
// one conflict, both visible in the report, the conflict kept on both sides.
func TestClient_Conflict(t *testing.T) {
	s := mustServer(t, hub.Options{})
	creds := s.merchant("M1", "T1", "T2")
	code := s.mint(1)[0]
	l1 := mustLane(t, creds[0], s.url(), fastOpts()).firstSync()
	l1.commit([]string{code}, 1)
	waitSynced(t, s, l1, 1)
	l2 := mustLane(t, creds[1], s.url(), fastOpts()).firstSync()
	l2.commit([]string{code}, 1)
	waitSynced(t, s, l2, 1)

	rep, err := s.hub.Report(context.Background(), day, "M1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Redemptions != 1 || rep.Total.Conflicts.Redemptions != 1 || len(rep.Conflicts) != 1 {
		t.Fatalf("report: count %d conflicts %d entries %d, want 1 1 1", rep.Total.Redemptions, rep.Total.Conflicts.Redemptions, len(rep.Conflicts))
	}
	c := rep.Conflicts[0]
	if c.TerminalID != "T2" || c.Against != terminal.RecordID("T1", 1) {
		t.Errorf("conflict %+v", c)
	}
	var b strings.Builder
	if err := rep.Write(&b, "table"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), terminal.RecordID("T2", 1)) {
		t.Errorf("table report does not show the conflict:\n%s", b.String())
	}
	confl, err := l2.ledger.Conflicts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(confl) != 1 {
		t.Errorf("terminal T2 keeps %d conflicts, want 1", len(confl))
	}
	if confl, _ := l1.ledger.Conflicts(context.Background()); len(confl) != 0 {
		t.Errorf("terminal T1 keeps %d conflicts, want 0", len(confl))
	}
}

func TestClient_Claim(t *testing.T) {
	s := mustServer(t, hub.Options{})
	creds := s.merchant("M1", "T1", "T2")
	codes := s.mint(3)
	l1 := mustLane(t, creds[0], s.url(), fastOpts())
	l2 := mustLane(t, creds[1], s.url(), fastOpts())
	waitOnline(t, l1)
	waitOnline(t, l2)
	ctx := context.Background()
	claim := func(l *lane, code string) error {
		v, err := terminal.ParseCode(code)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return l.client.Claim(ctx, v.ID, code)
	}
	id := func(code string) terminal.VoucherID { v, _ := terminal.ParseCode(code); return v.ID }

	t.Run("OK", func(t *testing.T) {
		if err := claim(l1, codes[0]); err != nil {
			t.Fatal(err)
		}
		if err := claim(l1, codes[0]); err != nil {
			t.Fatalf("claiming again from the same terminal: %v", err)
		}
	})
	t.Run("HeldElsewhere", func(t *testing.T) {
		err := claim(l2, codes[0])
		var de *terminal.Error
		if !errors.As(err, &de) || de.Code != terminal.AlreadyRedeemed || de.Reason != terminal.ReasonHeldElsewhere || !strings.Contains(de.Message, "锁定至") {
			t.Fatalf("got %v, want already_redeemed held elsewhere with until when", err)
		}
	})
	t.Run("Release", func(t *testing.T) {
		if err := l1.client.Release(ctx, id(codes[0])); err != nil {
			t.Fatal(err)
		}
		if err := claim(l2, codes[0]); err != nil {
			t.Fatalf("after release: %v", err)
		}
	})
	t.Run("Redeemed", func(t *testing.T) {
		l1.commit(codes[1:2], 1)
		waitSynced(t, s, l1, 1)
		var de *terminal.Error
		if err := claim(l2, codes[1]); !errors.As(err, &de) || de.Code != terminal.AlreadyRedeemed || de.Reason != "" {
			t.Fatalf("got %v, want already_redeemed (redeemed, not held)", err)
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		if err := s.hub.Revoke(ctx, id(codes[2])); err != nil {
			t.Fatal(err)
		}
		if got := terminal.ErrorCode(claim(l1, codes[2])); got != terminal.Revoked {
			t.Fatalf("got %q, want revoked", got)
		}
	})
	t.Run("Forged", func(t *testing.T) {
		_, priv, _ := ed25519.GenerateKey(nil)
		v, _ := terminal.ParseCode(codes[0])
		v.ID++
		forged, err := terminal.Encode(v, priv)
		if err != nil {
			t.Fatal(err)
		}
		if got := terminal.ErrorCode(claim(l1, forged)); got != terminal.BadSignature {
			t.Fatalf("got %q, want bad_signature", got)
		}
	})
	t.Run("ErrOffline", func(t *testing.T) {
		s.stop()
		deadline := time.Now().Add(10 * time.Second)
		for l1.client.Status().Online && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if err := claim(l1, codes[0]); !errors.Is(err, client.ErrOffline) {
			t.Fatalf("got %v, want ErrOffline", err)
		}
		s.start()
	})
}

// A block, an unblock and a revocation reach connected terminals as pushed
// state, stored in the terminal's ledger.
func TestClient_StatePush(t *testing.T) {
	s := mustServer(t, hub.Options{})
	creds := s.merchant("M1", "T1")
	l := mustLane(t, creds[0], s.url(), fastOpts())
	next := func() terminal.ServerState {
		t.Helper()
		select {
		case st := <-l.states:
			return st
		case <-time.After(10 * time.Second):
			t.Fatal("no state pushed")
		}
		return terminal.ServerState{}
	}
	if st := next(); st.Merchant.ID != "M1" || st.Merchant.Blocked || len(st.IssuerKeys) != 1 || st.ServerTime.IsZero() {
		t.Fatalf("welcome state %+v", st)
	}
	ctx := context.Background()
	if err := s.hub.Block(ctx, "M1"); err != nil {
		t.Fatal(err)
	}
	if st := next(); !st.Merchant.Blocked {
		t.Fatalf("after block: %+v", st.Merchant)
	}
	saved, err := l.ledger.LoadState(ctx)
	if err != nil || !saved.Merchant.Blocked {
		t.Fatalf("saved state %+v, %v", saved.Merchant, err)
	}
	if err := s.hub.Revoke(ctx, 0x1234); err != nil {
		t.Fatal(err)
	}
	if st := next(); len(st.Revocations) != 1 || st.Revocations[0] != 0x1234 {
		t.Fatalf("after revoke: %v", st.Revocations)
	}
	if err := s.hub.Unblock(ctx, "M1"); err != nil {
		t.Fatal(err)
	}
	if st := next(); st.Merchant.Blocked {
		t.Fatalf("after unblock: %+v", st.Merchant)
	}
	if _, err := s.hub.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if st := next(); len(st.IssuerKeys) != 2 {
		t.Fatalf("after key rotation: %d issuer keys, want 2", len(st.IssuerKeys))
	}
	// The welcome is still signed with the identity key in the credential.
	l.restart()
	if st := next(); len(st.IssuerKeys) != 2 {
		t.Fatalf("after reconnect: %d issuer keys", len(st.IssuerKeys))
	}
}

// Unknown, revoked and mismatched terminals are refused with a clear reason.
func TestClient_Refused(t *testing.T) {
	s := mustServer(t, hub.Options{})
	creds := s.merchant("M1", "T1", "T2", "T3")
	s.merchant("M2")
	other := mustServer(t, hub.Options{})
	stranger := other.merchant("M1", "T9")[0]
	if err := s.hub.RevokeTerminal(context.Background(), "T2"); err != nil {
		t.Fatal(err)
	}
	wrongMerchant := creds[2]
	wrongMerchant.MerchantID = "M2"
	impostor := creds[0]
	impostor.Seed = stranger.Seed
	for _, tc := range []struct {
		name string
		cred wire.Credential
		want string
	}{
		{"Unknown", stranger, "unknown terminal T9"},
		{"Revoked", creds[1], "terminal T2 is revoked"},
		{"WrongMerchant", wrongMerchant, "not enrolled for merchant M2"},
		{"BadSignature", impostor, "bad signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cred.ServerKey = s.hub.PublicKey() // the stranger's names another server
			l := mustLane(t, tc.cred, s.url(), fastOpts())
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(l.client.Status().LastError, tc.want) {
				if time.Now().After(deadline) {
					t.Fatalf("last error %q, want %q", l.client.Status().LastError, tc.want)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if l.client.Status().Online {
				t.Error("refused terminal is online")
			}
		})
	}
}

// A full refund that returns the voucher frees it on the server: another
// terminal may then redeem it, and it is accepted, not a conflict.
func TestClient_RefundReturnsVoucher(t *testing.T) {
	var mu gosync.Mutex
	now := noon
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := mustServer(t, hub.Options{Now: clock})
	creds := s.merchant("M1", "T1", "T2")
	code := s.mint(1)[0]
	l1 := mustLane(t, creds[0], s.url(), fastOpts()).firstSync()
	l1.commit([]string{code}, 1)
	ctx := context.Background()
	orig, err := l1.ledger.Get(ctx, terminal.RecordID("T1", 1))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := terminal.PlanRefund(orig, nil, nil, noon)
	if err != nil {
		t.Fatal(err)
	}
	if err := l1.ledger.Commit(ctx, plan.Record(orig, "T1", "M1", noon)); err != nil {
		t.Fatal(err)
	}
	l1.client.SyncNow()
	waitSynced(t, s, l1, 2)
	// The holder comes back after the split-bill window, to another till.
	mu.Lock()
	now = noon.Add(40 * time.Minute)
	mu.Unlock()
	l2 := mustLane(t, creds[1], s.url(), fastOpts()).firstSync()
	again := sale(t, code)
	again.At = now
	if err := l2.ledger.Commit(ctx, again); err != nil {
		t.Fatal(err)
	}
	l2.client.SyncNow()
	waitSynced(t, s, l2, 1)
	rep, err := s.hub.Report(ctx, day, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Redemptions != 2 || rep.Total.Refunds != 1 || rep.Total.Conflicts.Redemptions != 0 {
		t.Fatalf("report total %+v, want 2 redemptions, 1 refund, no conflict", rep.Total)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Category != terminal.Retail {
		t.Errorf("rows %+v, want one retail row", rep.Rows)
	}
}

// A server that cannot sign the welcome with the key in the credential is
// not trusted: no state from it is stored.
func TestClient_ErrServerKey(t *testing.T) {
	s := mustServer(t, hub.Options{})
	cred := s.merchant("M1", "T1")[0]
	other, _, _ := ed25519.GenerateKey(nil)
	cred.ServerKey = other
	l := mustLane(t, cred, s.url(), fastOpts())
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.client.Status().LastError, client.ErrServerKey.Error()) {
		if time.Now().After(deadline) {
			t.Fatalf("last error %q", l.client.Status().LastError)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := l.ledger.LoadState(context.Background()); err == nil {
		t.Error("state from an unproven server was saved")
	}
}
