package client_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
)

// TestClient_LostAcksKeepOutcomes: the server stores a terminal's records
// but the acks are lost; on a new connection the terminal sends them
// again, and the server answers each batch sent again with its head, past
// the batch. That connection breaks after the first answer. The terminal
// has pruned no record whose outcome it has not got: on the next
// connection it sends the rest again and ends with every conflict among
// them (TestChaos lost some this way when a cut fell after such an ack).
func TestClient_LostAcksKeepOutcomes(t *testing.T) {
	s := mustServer(t, hub.Options{})
	creds := s.merchant("M1", "T1", "T2")
	codes := s.mint(40)
	planted := codes[10:]
	l2 := mustLane(t, creds[1], s.url(), fastOpts()).firstSync()
	l2.commit(planted, 10)
	waitSynced(t, s, l2, uint64(len(planted)))

	// acks is how many acks still reach T1 on connections made since
	// first; the others are lost (an ack of a closed connection's relay,
	// still on its way, spends none).
	var acks, first atomic.Int64
	m := mustMITM(t, s.url())
	m.set(nil, func(ms *mitmSession, kind int, b []byte) []frame {
		if kind == websocket.BinaryMessage && sealedType(b) == wire.TypeAck && (int64(ms.id) < first.Load() || acks.Add(-1) < 0) {
			return nil
		}
		return []frame{{kind, b}}
	})
	o := fastOpts()
	o.BatchSize = len(codes)
	l1 := mustLane(t, creds[0], m.url(), o).firstSync()
	l1.commit(codes, len(codes)) // 10 vouchers of its own, then the 30 T2 redeemed: one batch
	ctx := context.Background()
	wait := func(what string, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !done(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
			l1.client.SyncNow()
		}
	}
	wait("the server holds T1's records", func() bool {
		w, err := s.hub.Watermark(ctx, "T1")
		return err == nil && w == uint64(len(codes))
	})
	l1.close()

	// Sent again in batches of 10: the first answer arrives, then the link breaks.
	l1.copts.BatchSize = 10
	first.Store(int64(m.count()) + 1)
	acks.Store(1)
	l1.open()
	wait("an ack of a batch sent again", func() bool { return l1.ledger.Watermark() > 0 })
	l1.close()

	first.Store(int64(m.count()) + 1)
	acks.Store(1 << 30)
	l1.open()
	waitSynced(t, s, l1, uint64(len(codes)))
	c, err := l1.ledger.Conflicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != len(planted) {
		t.Errorf("the terminal keeps %d conflicts, want %d", len(c), len(planted))
	}
}
