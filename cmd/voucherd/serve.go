package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/buildinfo"
	"github.com/voucherpos/voucherpos/cmd/internal/hubmetrics"
	"github.com/voucherpos/voucherpos/cmd/internal/logging"
	"github.com/voucherpos/voucherpos/drivers/qrimage"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/sync/wire"
)

// defaultListen is serve's default address.
const defaultListen = "127.0.0.1:8443"

// shutdownWait bounds the HTTP server's graceful shutdown.
const shutdownWait = 10 * time.Second

func cmdInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init")
	var l ledgerFlags
	l.register(fs, "data directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := l.check("init"); err != nil {
		return err
	}
	ctx := context.Background()
	if err := l.initStore(ctx, stderr); err != nil {
		return err
	}
	h, err := l.openHub(ctx, hub.Options{Create: true, Logf: func(string, ...any) {}})
	if err != nil {
		return err
	}
	id := h.KeyID()
	if err := h.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "voucherd: ledger ready in %s; issuing key id:\n", l.where())
	fmt.Fprintln(stdout, id)
	return nil
}

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve")
	var l ledgerFlags
	l.register(fs, "data directory (voucherd init)")
	listen := fs.String("listen", defaultListen, "address to listen on")
	token := fs.String("token", os.Getenv("VOUCHERD_TOKEN"), "admin API token (default: loopback callers only)")
	platform := fs.String("platform-token", os.Getenv("VOUCHERD_PLATFORM_TOKEN"), "the issuing platform's token for /v1/claims (default: loopback callers only)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate (chain) to serve HTTPS and wss:// with; needs -tls-key")
	tlsKey := fs.String("tls-key", "", "PEM private key of -tls-cert")
	lf := logging.Register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := l.check("serve"); err != nil {
		return err
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return usagef("serve: -tls-cert and -tls-key go together")
	}
	var cert *tls.Certificate
	if *tlsCert != "" {
		c, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("serve: TLS: %w", err)
		}
		cert = &c
	}
	logger, err := lf.New(stderr)
	if err != nil {
		return usagef("serve: %v", err)
	}
	metrics := hubmetrics.New()
	h, iss, err := l.openServer(context.Background(), hub.Options{AdminToken: *token, Logf: logging.Printf(logger),
		Hooks: metrics.Hooks(), Metrics: metrics.Handler(logger)},
		issuing.Options{AdminToken: *token, PlatformToken: *platform, QR: walletQR})
	if err != nil {
		return err
	}
	metrics.Watch(h)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		_ = iss.Close()
		_ = h.Close()
		return fmt.Errorf("serve: %w", err)
	}
	srv := hub.NewServer(countyHandler(h, iss, iss.Wrap(h.Handler())))
	scheme := "http"
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
		ln, scheme = tls.NewListener(ln, srv.TLSConfig), "https"
	}
	fmt.Fprintf(stdout, "voucherd: serving on %s://%s (terminals: %s://%s%s, issuing key id %s)\n", scheme, ln.Addr(),
		map[string]string{"http": "ws", "https": "wss"}[scheme], ln.Addr(), wire.Path, h.KeyID())
	logger.Info("serving", "addr", ln.Addr().String(), "sync", wire.Path, "issuing_key", h.KeyID().String(), "version", buildinfo.Read().Short())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		logger.Info("shutting down (terminals are told to reconnect later, 1012)", "signal", s.String())
	case err := <-errc:
		_ = iss.Close()
		_ = h.Close()
		return fmt.Errorf("serve: %w", err)
	}
	_ = iss.Close()   // answers the claims queued
	herr := h.Close() // closes the terminals' websockets with 1012, then the ledger
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return herr
}

// walletQR draws a voucher code for the wallet page.
func walletQR(w io.Writer, code string) error { return qrimage.WritePNG(w, code, 300) }
