// Package tlsid is the servent's TLS identity: a self-signed certificate
// and key, made at first run and kept in the data folder, and the TLS
// configurations it uses as server and client.
//
// Gnutella has no PKI: gtk-gnutella runs anonymous (ANON-ECDH, ANON-DH)
// and certificate suites alike and checks no certificate, so neither do
// we; TLS here hides the traffic from the path, it does not authenticate
// the peer (its servent GUID does that, as much as anything does). Go's
// crypto/tls has no anonymous suites, so we always present a certificate;
// gtk-gnutella's NORMAL priority takes ECDHE with an ECDSA certificate
// (GnuTLS 3), and ECDSA P-256 is small and quick to make at first run,
// where gtk-gnutella makes a 3248-bit RSA key.
package tlsid

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/servent/servent/internal/atomicfile"
)

// File names in the data folder, mode 0600.
const (
	CertFile = "tls-cert.pem"
	KeyFile  = "tls-key.pem"
)

// maxPEM bounds what is read from either file.
const maxPEM = 64 << 10

// Load returns the certificate kept in dir, or makes one and keeps it
// there when there is none (dir "" makes one in memory only). A damaged
// pair is an error, never replaced silently.
func Load(dir string) (tls.Certificate, error) {
	if dir == "" {
		c, _, _, err := generate()
		return c, err
	}
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	certPEM, cerr := atomicfile.Read(certPath, maxPEM)
	keyPEM, kerr := atomicfile.Read(keyPath, maxPEM)
	switch {
	case cerr == nil && kerr == nil:
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("tls identity in %s: %w (remove %s and %s to make a new one)", dir, err, CertFile, KeyFile)
		}
		return c, nil
	case errors.Is(cerr, os.ErrNotExist) && errors.Is(kerr, os.ErrNotExist):
	case cerr != nil && !errors.Is(cerr, os.ErrNotExist):
		return tls.Certificate{}, fmt.Errorf("tls identity: %w", cerr)
	case kerr != nil && !errors.Is(kerr, os.ErrNotExist):
		return tls.Certificate{}, fmt.Errorf("tls identity: %w", kerr)
	default:
		return tls.Certificate{}, fmt.Errorf("tls identity in %s: one of %s and %s is missing (remove the other to make a new pair)", dir, CertFile, KeyFile)
	}
	c, certPEM, keyPEM, err := generate()
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls identity: %w", err)
	}
	// The key first: a cert without its key is "one is missing".
	if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls identity: %w", err)
	}
	if err := atomicfile.Write(certPath, certPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls identity: %w", err)
	}
	return c, nil
}

func generate() (tls.Certificate, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("tls identity: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("tls identity: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "servent"},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("tls identity: certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("tls identity: key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	return c, certPEM, keyPEM, err
}

// Server is the configuration for TLS we accept.
func Server(c tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
}

// Client is the configuration for TLS we dial: the peer's certificate is
// not checked (no PKI in Gnutella; see the package comment).
func Client(c tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} //nolint:gosec // no PKI in Gnutella
}

// IsClientHello reports whether the first bytes of a connection start a
// TLS handshake record (0x16, version 3.x), told apart from "GNUT", "GET "
// and "GIV " by the first byte alone.
func IsClientHello(head []byte) bool {
	return len(head) >= 2 && head[0] == 0x16 && head[1] == 0x03
}
