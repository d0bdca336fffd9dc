package client_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestClient_Fleet: what a terminal reports at its hello and what the
// server saw of it show in the fleet view, and the hub's hooks count the
// records, group commits and batch round trips.
func TestClient_Fleet(t *testing.T) {
	var decided, grouped, commits, batches atomic.Int64
	s := mustServer(t, hub.Options{Hooks: hub.Hooks{
		Outcome: func(terminal.Result) { decided.Add(1) },
		GroupCommit: func(records, _ int, _ time.Duration, err error) {
			if err == nil {
				grouped.Add(int64(records))
				commits.Add(1)
			}
		},
	}})
	creds := s.merchant("M1", "T1", "T2")
	o := fastOpts()
	o.Report = func() wire.Report { return wire.Report{Agent: "v1.2.3+abcdef", Fault: "clock: behind"} }
	o.OnBatch = func(records int, rtt time.Duration) {
		if records > 0 && rtt > 0 {
			batches.Add(1)
		}
	}
	l := mustLane(t, creds[0], s.url(), o)
	l.commit(s.mint(5), 5)
	waitSynced(t, s, l, 5)

	ts, err := s.hub.Terminals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Fatalf("fleet of %d terminals, want 2: %+v", len(ts), ts)
	}
	t1, t2 := ts[0], ts[1]
	if t1.ID != "T1" || !t1.Connected || t1.LastSync.IsZero() || t1.LastHello.IsZero() || t1.Watermark != 5 ||
		t1.QueueDepth != 0 || t1.UnsyncedFen != 0 || t1.Agent != "v1.2.3+abcdef" || t1.Fault != "clock: behind" || t1.Alarm != "" {
		t.Errorf("T1: %+v", t1)
	}
	if t2.ID != "T2" || t2.Connected || !t2.LastSync.IsZero() || t2.Agent != "" {
		t.Errorf("T2 never connected: %+v", t2)
	}
	if decided.Load() != 5 || grouped.Load() != 5 || commits.Load() == 0 || batches.Load() == 0 {
		t.Errorf("hooks: decided %d, grouped %d in %d commits, %d batch round trips; want 5, 5, >0, >0",
			decided.Load(), grouped.Load(), commits.Load(), batches.Load())
	}

	// The terminal comes back with an empty ledger (replaced, or restored
	// from an old copy): the server raises an alarm in the fleet view.
	l.close()
	l.path = filepath.Join(t.TempDir(), "replaced.db")
	l.open()
	waitOnline(t, l)
	ts, err = s.hub.Terminals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ts[0].Alarm, "below the server's watermark 5") {
		t.Errorf("T1 after a replaced ledger: %+v", ts[0])
	}
}

// TestClient_FaultMidSession: a fault the terminal finds while connected
// reaches the fleet view through a new handshake, and one that changes
// again soon after waits for the next (no reconnecting at every poll).
func TestClient_FaultMidSession(t *testing.T) {
	s := mustServer(t, hub.Options{})
	creds := s.merchant("M1", "T1")
	var fault atomic.Value
	fault.Store("")
	o := fastOpts()
	o.Report = func() wire.Report { return wire.Report{Agent: "v1", Fault: fault.Load().(string)} }
	var rehellos atomic.Int64
	o.Logf = func(format string, args ...any) {
		if strings.Contains(fmt.Sprintf(format, args...), "new handshake to report it") {
			rehellos.Add(1)
		}
		t.Logf(format, args...)
	}
	l := mustLane(t, creds[0], s.url(), o)
	l.commit(s.mint(2), 2)
	waitSynced(t, s, l, 2)
	fleet := func() hub.TerminalStatus {
		t.Helper()
		ts, err := s.hub.Terminals(context.Background())
		if err != nil || len(ts) != 1 {
			t.Fatalf("fleet %+v, %v", ts, err)
		}
		return ts[0]
	}
	first := fleet()
	if first.Fault != "" || !first.Connected {
		t.Fatalf("before any fault: %+v", first)
	}
	fault.Store("ledger_fault: record 2: hash mismatch")
	deadline := time.Now().Add(10 * time.Second)
	for fleet().Fault != "ledger_fault: record 2: hash mismatch" {
		if time.Now().After(deadline) {
			t.Fatalf("the fault found mid-session never reached the fleet view: %+v", fleet())
		}
		time.Sleep(20 * time.Millisecond)
	}
	second := fleet()
	if n := rehellos.Load(); n != 1 || !second.Connected {
		t.Errorf("%d new handshakes for one change, connected %v; want 1, true", n, second.Connected)
	}
	// Changed again at once: no second new handshake within rehelloEvery,
	// though many polls pass.
	fault.Store("disk_low")
	time.Sleep(20 * o.PollEvery)
	if got := fleet(); got.Fault != second.Fault || rehellos.Load() != 1 {
		t.Errorf("a second change reconnected at once (%d new handshakes): %+v", rehellos.Load(), got)
	}
	// The next handshake carries it; a sound terminal clears it.
	l.close()
	l.open()
	waitOnline(t, l)
	if got := fleet(); got.Fault != "disk_low" {
		t.Errorf("after reconnecting: %+v", got)
	}
	fault.Store("")
	l.close()
	l.open()
	waitOnline(t, l)
	if got := fleet(); got.Fault != "" {
		t.Errorf("a sound terminal still shows a fault: %+v", got)
	}
}
