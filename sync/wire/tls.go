package wire

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
)

// ErrInsecureURL is returned for a plain ws:// sync URL to a host other
// than loopback: records, acks and pushed state would cross the network
// unauthenticated.
var ErrInsecureURL = errors.New("plain ws:// to a host other than loopback (use wss://, or -insecure-sync on a network you trust)")

// CheckSyncURL checks a sync URL: ws:// or wss://, and ws:// only to a
// loopback host unless insecure.
func CheckSyncURL(u string, insecure bool) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return fmt.Errorf("sync URL %q: want ws://HOST:PORT%s or wss://HOST:PORT%s", u, Path, Path)
	}
	switch p.Scheme {
	case "wss":
		return nil
	case "ws":
	default:
		return fmt.Errorf("sync URL %q: scheme %q, want ws or wss", u, p.Scheme)
	}
	host := p.Hostname()
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" || insecure {
		return nil
	}
	return fmt.Errorf("sync URL %q: %w", u, ErrInsecureURL)
}

// TLSConfig returns the TLS configuration the terminal authenticates the
// server with: the certificates of CA as the only roots when the
// credential carries them (a county's own CA or the server's self-signed
// certificate), else nil (the system's roots).
func (c *Credential) TLSConfig() (*tls.Config, error) {
	if len(c.CA) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CA) {
		return nil, fmt.Errorf("%w: ca holds no PEM certificate", ErrCredential)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
