package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/wire"
)

// selfSigned writes a certificate for 127.0.0.1 and its key (PEM) into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "voucherd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestServe_TLS: voucherd serves HTTPS and wss:// with -tls-cert/-tls-key;
// `terminal add -url wss://… -ca FILE` writes what the terminal needs to
// authenticate it, and a terminal without it refuses the server.
func TestServe_TLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, t.TempDir())
	voucherd(t, 0, "init", "-data", dir)
	voucherd(t, 0, "merchant", "add", "-data", dir, "-id", "M1", "-name", "沁水百货", "-category", "retail")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	credFile := filepath.Join(t.TempDir(), "t1.json")
	voucherd(t, 0, "terminal", "add", "-data", dir, "-merchant", "M1", "-id", "T1", "-out", credFile,
		"-url", "wss://"+addr+wire.Path, "-ca", certFile)
	voucherd(t, 1, "terminal", "add", "-data", dir, "-merchant", "M1", "-id", "T2", "-out", filepath.Join(t.TempDir(), "t2.json"),
		"-ca", keyFile) // a key is no certificate: refused before enrolling
	voucherd(t, 2, "serve", "-data", dir, "-tls-cert", certFile)
	_, base, _ := startServe(t, dir, "-listen", addr, "-tls-cert", certFile, "-tls-key", keyFile)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("banner URL %q, want https://", base)
	}
	cred, err := wire.LoadCredential(credFile)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := cred.TLSConfig()
	if err != nil || tc == nil {
		t.Fatalf("credential TLS config %v, %v", tc, err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	resp, err := hc.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("https healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	// The terminal's handshake over wss://, trusting only the credential's CA.
	d := websocket.Dialer{TLSClientConfig: tc, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial(cred.Server, nil)
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer ws.Close()
	var ch wire.Message
	if err := ws.ReadJSON(&ch); err != nil || ch.Type != wire.TypeChallenge {
		t.Fatalf("challenge %+v, %v", ch, err)
	}
	sig := ed25519.Sign(cred.PrivateKey(), wire.HelloMessage(ch.Nonce, "T1", "M1"))
	if err := ws.WriteJSON(&wire.Message{Type: wire.TypeHello, Version: wire.Version, TerminalID: "T1", MerchantID: "M1", Sig: sig}); err != nil {
		t.Fatal(err)
	}
	// The welcome comes sealed: signed with the credential's server key
	// for this connection.
	kind, frame, err := ws.ReadMessage()
	if err != nil || kind != websocket.BinaryMessage {
		t.Fatalf("welcome: kind %d, %v", kind, err)
	}
	b, err := wire.NewOpener(cred.ServerKey, ch.Nonce, sig).Open(frame)
	if err != nil {
		t.Fatalf("welcome: %v", err)
	}
	w, err := wire.Decode(b)
	if err != nil || w.Type != wire.TypeWelcome ||
		!ed25519.Verify(cred.ServerKey, wire.WelcomeMessage(ch.Nonce, sig, w.Watermark), w.Sig) {
		t.Fatalf("welcome %+v, %v", w, err)
	}
	// Without the CA (a server it cannot authenticate) the dial fails.
	if _, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{}}).Dial(cred.Server, nil); err == nil {
		t.Error("a terminal without the CA trusted the self-signed server")
	}
}
