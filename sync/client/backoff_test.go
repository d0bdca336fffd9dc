package client

import (
	"context"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/wire"
)

func TestBackoff_Next(t *testing.T) {
	t.Run("FullJitterCapped", func(t *testing.T) {
		b := reconnectBackoff(Backoff{Rand: func() float64 { return 0.999999 }})
		want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
		for i, w := range want {
			got := reconnectWait(&b, 0)
			if got > w*time.Second || got < w*time.Second*99/100 {
				t.Errorf("attempt %d: got %v, want just under %v", i, got, w*time.Second)
			}
		}
	})
	t.Run("Jitter", func(t *testing.T) {
		b := reconnectBackoff(Backoff{Rand: func() float64 { return 0 }})
		if got := reconnectWait(&b, 0); got != 0 {
			t.Errorf("got %v, want 0 (full jitter may retry at once)", got)
		}
	})
	t.Run("Reset", func(t *testing.T) {
		b := reconnectBackoff(Backoff{Rand: func() float64 { return 0.5 }})
		for range 5 {
			reconnectWait(&b, 0)
		}
		b.Reset()
		if got := reconnectWait(&b, 0); got != 500*time.Millisecond {
			t.Errorf("after reset: got %v, want 500ms", got)
		}
	})
	t.Run("ServiceRestart", func(t *testing.T) {
		for _, code := range []int{wire.CloseServiceRestart, wire.CloseTryAgainLater} {
			b := reconnectBackoff(Backoff{Rand: func() float64 { return 0 }})
			if got := reconnectWait(&b, code); got != BackoffBase {
				t.Errorf("close %d: got %v, want at least the base %v", code, got, BackoffBase)
			}
		}
	})
	t.Run("Custom", func(t *testing.T) {
		b := reconnectBackoff(Backoff{Base: 10 * time.Millisecond, Cap: 30 * time.Millisecond, Rand: func() float64 { return 0.5 }})
		got := []time.Duration{reconnectWait(&b, 0), reconnectWait(&b, 0), reconnectWait(&b, 0),
			reconnectWait(&b, 0)}
		want := []time.Duration{5, 10, 15, 15}
		for i := range want {
			if got[i] != want[i]*time.Millisecond {
				t.Errorf("attempt %d: got %v, want %v", i, got[i], want[i]*time.Millisecond)
			}
		}
	})
}

// The reconnection wait returns at once when the context ends and runs on
// the injected clock.
func TestClient_WaitCancel(t *testing.T) {
	fire := make(chan time.Time)
	c := New(Options{After: func(time.Duration) <-chan time.Time { return fire }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- c.wait(ctx, c.now(), time.Hour) }()
	cancel()
	if <-done {
		t.Error("wait returned true after cancel")
	}
	go func() { done <- c.wait(t.Context(), c.now(), time.Hour) }()
	fire <- time.Time{}
	if !<-done {
		t.Error("wait returned false when the clock fired")
	}
}
