package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// mitm sits on the plain ws:// path between terminals and the server, as
// whoever can inject frames there would: it relays websocket messages both
// ways and lets a test drop, rewrite or inject them.
type mitm struct {
	tb     testing.TB
	target string
	ln     net.Listener
	srv    *http.Server

	mu gosync.Mutex
	// sessions counts the connections relayed so far (mitmSession.id).
	sessions int
	// toTerminal rewrites a message of the server: it returns what the
	// terminal gets instead (nothing: dropped).
	toTerminal func(s *mitmSession, kind int, b []byte) []frame
	// toServer says whether a message of the terminal reaches the server;
	// inject lets it answer the terminal itself.
	toServer func(s *mitmSession, kind int, b []byte) bool
}

type frame struct {
	kind int
	data []byte
}

// mitmSession is one relayed connection.
type mitmSession struct {
	id     int // 1 for the first connection relayed, and so on
	term   *websocket.Conn
	wmu    gosync.Mutex // one writer to the terminal at a time
	sealed int          // sealed frames the terminal got so far: the next one's number
	// what crossed in the clear at the handshake: the challenge's nonce
	// (under wmu) and the hello's signature (terminal→server side only)
	nonce, helloSig []byte
}

// inject sends the terminal a frame the server never sent.
func (s *mitmSession) inject(kind int, b []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if kind == websocket.BinaryMessage {
		s.sealed++
	}
	_ = s.term.WriteMessage(kind, b)
}

func mustMITM(tb testing.TB, target string) *mitm {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	m := &mitm{tb: tb, target: target, ln: ln}
	m.srv = &http.Server{Handler: http.HandlerFunc(m.serve)}
	go func() { _ = m.srv.Serve(ln) }()
	tb.Cleanup(func() { _ = m.srv.Close() })
	return m
}

func (m *mitm) url() string { return "ws://" + m.ln.Addr().String() + wire.Path }

func (m *mitm) set(toServer func(*mitmSession, int, []byte) bool, toTerminal func(*mitmSession, int, []byte) []frame) {
	m.mu.Lock()
	m.toServer, m.toTerminal = toServer, toTerminal
	m.mu.Unlock()
}

// count returns how many connections were relayed so far.
func (m *mitm) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions
}

func (m *mitm) rules() (func(*mitmSession, int, []byte) bool, func(*mitmSession, int, []byte) []frame) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.toServer, m.toTerminal
}

func (m *mitm) serve(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	term, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer term.Close()
	srv, _, err := websocket.DefaultDialer.Dial(m.target, nil)
	if err != nil {
		return
	}
	defer srv.Close()
	m.mu.Lock()
	m.sessions++
	s := &mitmSession{id: m.sessions, term: term}
	m.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { // terminal → server
		defer func() { done <- struct{}{} }()
		for {
			kind, b, err := term.ReadMessage()
			if err != nil {
				return
			}
			if h, err := wire.Decode(b); err == nil && h.Type == wire.TypeHello {
				s.helloSig = h.Sig
			}
			toServer, _ := m.rules()
			if toServer != nil && !toServer(s, kind, b) {
				continue
			}
			if srv.WriteMessage(kind, b) != nil {
				return
			}
		}
	}()
	go func() { // server → terminal
		defer func() { done <- struct{}{} }()
		for {
			kind, b, err := srv.ReadMessage()
			if err != nil {
				return
			}
			if c, err := wire.Decode(b); err == nil && c.Type == wire.TypeChallenge {
				s.wmu.Lock()
				s.nonce = c.Nonce
				s.wmu.Unlock()
			}
			_, toTerminal := m.rules()
			out := []frame{{kind, b}}
			if toTerminal != nil {
				out = toTerminal(s, kind, b)
			}
			for _, f := range out {
				s.inject(f.kind, f.data)
			}
		}
	}()
	<-done
}

// sealedType returns the type of the control message in a sealed frame.
func sealedType(b []byte) wire.Type {
	if len(b) < 76 || string(b[:4]) != "VPS1" {
		return ""
	}
	m, err := wire.Decode(b[76:])
	if err != nil {
		return ""
	}
	return m.Type
}

// lastSeq returns the last sequence of a batch frame.
func lastSeq(b []byte) uint64 {
	recs, err := wire.DecodeBatch(b)
	if err != nil {
		return 0
	}
	return recs[len(recs)-1].Seq
}

// ackFor is an ack that accepts every record up to seq.
func ackFor(seq uint64) []byte {
	m := &wire.Message{Type: wire.TypeAck, Watermark: seq, Upto: seq}
	for s := uint64(1); s <= seq; s++ {
		m.Outcomes = append(m.Outcomes, terminal.Outcome{Seq: s, Result: terminal.Accepted})
	}
	b, _ := wire.Encode(m)
	return b
}

// notPruned watches the terminal's queue until the man in the middle has
// done its trick at least three times and the client has logged as many
// refusals (three sessions, each refused): the queue holds every record
// all along.
func notPruned(t *testing.T, l *lane, tricks func() int, records int, alarms *alarmLog) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		done := tricks()
		n, _, err := l.ledger.Unsynced(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n != records || l.ledger.Watermark() != 0 {
			t.Fatalf("queue pruned by a message the server did not sign for this connection: %d unsynced of %d, watermark %d (after %d tricks)",
				n, records, l.ledger.Watermark(), done)
		}
		if done >= 3 && alarms.count() >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tricks by the man in the middle, %d alarms saying %q in the client's log; want 3 of each: %+v",
				done, alarms.count(), wire.ErrSealed, l.client.Status())
		}
		l.client.SyncNow()
		time.Sleep(10 * time.Millisecond)
	}
}

// alarmLog counts the client's log lines that say a server message was refused.
type alarmLog struct {
	tb testing.TB
	mu gosync.Mutex
	n  int
}

func (a *alarmLog) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if strings.Contains(line, "ALARM refused") && strings.Contains(line, wire.ErrSealed.Error()) {
		a.mu.Lock()
		a.n++
		a.mu.Unlock()
	}
	a.tb.Log(line)
}

func (a *alarmLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// watched returns fastOpts logging to a new alarmLog.
func watched(tb testing.TB) (client.Options, *alarmLog) {
	a := &alarmLog{tb: tb}
	o := fastOpts()
	o.Logf = a.logf
	return o, a
}

// TestClient_ManInTheMiddle: over plain ws:// on loopback, a man in the
// middle forges, alters and replays acks over a real websocket to a real
// hub. The terminal applies none of them: its queue is not pruned and it
// says why. Relayed untouched, the same path syncs (the control).
func TestClient_ManInTheMiddle(t *testing.T) {
	s := mustServer(t, hub.Options{})
	creds := s.merchant("M1", "T1", "T2")
	codes := s.mint(12)
	attacker := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, ed25519.SeedSize))
	counter := func() (func(), func() int) {
		var mu gosync.Mutex
		n := 0
		return func() { mu.Lock(); n++; mu.Unlock() }, func() int { mu.Lock(); defer mu.Unlock(); return n }
	}
	dropBatches := func(answer func(s *mitmSession, seq uint64)) func(*mitmSession, int, []byte) bool {
		return func(s *mitmSession, kind int, b []byte) bool {
			if kind != websocket.BinaryMessage {
				return true
			}
			answer(s, lastSeq(b))
			return false // the server never gets the records
		}
	}

	t.Run("Relayed", func(t *testing.T) { // the control: the path itself works
		m := mustMITM(t, s.url())
		l := mustLane(t, creds[0], m.url(), fastOpts())
		l.firstSync().commit(codes[:3], 3)
		waitSynced(t, s, l, 3)
	})

	t.Run("ForgedUnsigned", func(t *testing.T) {
		m := mustMITM(t, s.url())
		did, tricks := counter()
		m.set(dropBatches(func(ms *mitmSession, seq uint64) {
			ms.inject(websocket.TextMessage, ackFor(seq))
			did()
		}), nil)
		o, alarms := watched(t)
		l := mustLane(t, creds[1], m.url(), o)
		l.firstSync().commit(codes[3:6], 3)
		notPruned(t, l, tricks, 3, alarms)
		if w, _ := s.hub.Watermark(context.Background(), "T2"); w != 0 {
			t.Fatalf("server watermark %d: the proxy let records through", w)
		}
	})

	t.Run("ForgedSigned", func(t *testing.T) {
		// Signed with a key of the attacker's over everything the real
		// server signs (this connection's nonce and hello, seen in the
		// clear), numbered as the next frame.
		srv := mustServer(t, hub.Options{})
		cred := srv.merchant("M1", "T1")[0]
		m := mustMITM(t, srv.url())
		did, tricks := counter()
		m.set(dropBatches(func(ms *mitmSession, seq uint64) {
			msg := ackFor(seq)
			ms.wmu.Lock()
			nonce := ms.nonce
			ms.wmu.Unlock()
			f := binary.BigEndian.AppendUint64([]byte("VPS1"), uint64(ms.sealed))
			f = append(f, ed25519.Sign(attacker, wire.SealedMessage(nonce, ms.helloSig, uint64(ms.sealed), msg))...)
			ms.inject(websocket.BinaryMessage, append(f, msg...))
			did()
		}), nil)
		o, alarms := watched(t)
		l := mustLane(t, cred, m.url(), o)
		l.firstSync().commit(srv.mint(3), 3)
		notPruned(t, l, tricks, 3, alarms)
	})

	t.Run("Tampered", func(t *testing.T) {
		// The server's own acks, their verdicts changed on the way to
		// conflicts: the records reach the server, the terminal keeps them
		// queued and stores no verdict.
		srv := mustServer(t, hub.Options{})
		cred := srv.merchant("M1", "T1")[0]
		m := mustMITM(t, srv.url())
		did, tricks := counter()
		m.set(nil, func(_ *mitmSession, kind int, b []byte) []frame {
			if sealedType(b) == wire.TypeAck {
				b = bytes.ReplaceAll(b, []byte(`"duplicate"`), []byte(`"conflict"`))
				b = bytes.ReplaceAll(b, []byte(`"accepted"`), []byte(`"conflict"`))
				did()
			}
			return []frame{{kind, b}}
		})
		o, alarms := watched(t)
		l := mustLane(t, cred, m.url(), o)
		l.firstSync().commit(srv.mint(3), 3)
		notPruned(t, l, tricks, 3, alarms)
		if w, _ := srv.hub.Watermark(context.Background(), "T1"); w != 3 {
			t.Fatalf("server watermark %d, want 3 (the records themselves went through)", w)
		}
	})

	t.Run("Replayed", func(t *testing.T) {
		// A real ack the server signed for another terminal's connection
		// (T1's, captured on the way, renumbered to fit): T3's queue of the
		// same length is not pruned by it.
		srv := mustServer(t, hub.Options{})
		cs := srv.merchant("M1", "T1", "T3")
		codes := srv.mint(6)
		m := mustMITM(t, srv.url())
		var mu gosync.Mutex
		var captured []byte
		m.set(nil, func(_ *mitmSession, kind int, b []byte) []frame {
			if sealedType(b) == wire.TypeAck {
				mu.Lock()
				captured = bytes.Clone(b)
				mu.Unlock()
			}
			return []frame{{kind, b}}
		})
		l1 := mustLane(t, cs[0], m.url(), fastOpts())
		l1.firstSync().commit(codes[:3], 3)
		waitSynced(t, srv, l1, 3)
		l1.close()
		mu.Lock()
		ack := captured
		mu.Unlock()
		if !strings.Contains(string(ack), `"watermark":3`) {
			t.Fatalf("captured %q, want T1's ack of 3 records", ack)
		}
		did, tricks := counter()
		m.set(dropBatches(func(ms *mitmSession, _ uint64) {
			f := bytes.Clone(ack)
			binary.BigEndian.PutUint64(f[4:], uint64(ms.sealed))
			ms.inject(websocket.BinaryMessage, f)
			did()
		}), func(_ *mitmSession, kind int, b []byte) []frame { return []frame{{kind, b}} })
		o, alarms := watched(t)
		l3 := mustLane(t, cs[1], m.url(), o)
		l3.firstSync().commit(codes[3:], 3)
		notPruned(t, l3, tricks, 3, alarms)
	})
}

// The wire's own check of sealed frames: each part of a frame, its number
// and the connection it was signed for matter; a refused frame changes
// nothing.
func TestSealed_Refused(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	nonce, hello := bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 64)
	seal := wire.NewSealer(key, nonce, hello)
	f0, f1 := seal.Seal([]byte(`{"type":"welcome"}`)), seal.Seal(ackFor(2))
	for name, tc := range map[string]struct {
		open  *wire.Opener
		frame []byte
	}{
		"OtherNonce":  {wire.NewOpener(pub, bytes.Repeat([]byte{9}, 32), hello), f0},
		"OtherHello":  {wire.NewOpener(pub, nonce, bytes.Repeat([]byte{9}, 64)), f0},
		"OtherKey":    {wire.NewOpener(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey), nonce, hello), f0},
		"OutOfOrder":  {wire.NewOpener(pub, nonce, hello), f1},
		"Truncated":   {wire.NewOpener(pub, nonce, hello), f0[:70]},
		"Tampered":    {wire.NewOpener(pub, nonce, hello), append(bytes.Clone(f0[:len(f0)-1]), '!')},
		"TamperedSig": {wire.NewOpener(pub, nonce, hello), func() []byte { b := bytes.Clone(f0); b[20] ^= 1; return b }()},
	} {
		if _, err := tc.open.Open(tc.frame); !errors.Is(err, wire.ErrSealed) {
			t.Errorf("%s: %v, want ErrSealed", name, err)
		}
		// The opener still expects frame 0: the real one opens.
		if name != "OtherNonce" && name != "OtherHello" && name != "OtherKey" {
			if _, err := tc.open.Open(f0); err != nil {
				t.Errorf("%s: the real frame after a refused one: %v", name, err)
			}
		}
	}
	o := wire.NewOpener(pub, nonce, hello)
	for i, f := range [][]byte{f0, f1} {
		if _, err := o.Open(f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if _, err := o.Open(f1); !errors.Is(err, wire.ErrSealed) {
		t.Errorf("a frame opened twice (replayed): %v", err)
	}
}

// A credential without server_key (made before it existed) cannot verify
// the server's messages: over plain ws:// the client refuses it, unless
// told the path is trusted (-insecure-sync); then it syncs, checking the
// sealed frames' order only.
func TestClient_NoServerKey(t *testing.T) {
	s := mustServer(t, hub.Options{})
	cred := s.merchant("M1", "T1")[0]
	cred.ServerKey = nil
	l := mustLane(t, cred, s.url(), client.Options{Insecure: true, Backoff: fastOpts().Backoff, PollEvery: fastOpts().PollEvery})
	c := client.New(client.Options{URL: s.url(), Credential: cred, Outbox: l.ledger, State: l.ledger})
	if err := c.Open(); !errors.Is(err, client.ErrNoServerKey) {
		t.Fatalf("plain ws:// without server_key: %v, want ErrNoServerKey", err)
	}
	if _, _, err := c.Probe(context.Background()); !errors.Is(err, client.ErrNoServerKey) {
		t.Fatalf("probe over plain ws:// without server_key: %v, want ErrNoServerKey", err)
	}
	l.firstSync().commit(s.mint(3), 3)
	waitSynced(t, s, l, 3)
}
