package tlsid

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadMakesAndKeeps(t *testing.T) {
	dir := t.TempDir()
	c1, err := Load(dir)
	require.NoError(t, err)
	for _, name := range []string{CertFile, KeyFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), name)
	}
	c2, err := Load(dir)
	require.NoError(t, err)
	require.Equal(t, c1.Certificate, c2.Certificate, "kept across runs")

	// Damaged or half a pair: an error that says what to do, never replaced.
	require.NoError(t, os.WriteFile(filepath.Join(dir, CertFile), []byte("garbage"), 0o600))
	_, err = Load(dir)
	require.ErrorContains(t, err, "remove tls-cert.pem and tls-key.pem")
	require.NoError(t, os.Remove(filepath.Join(dir, CertFile)))
	_, err = Load(dir)
	require.ErrorContains(t, err, "is missing")

	mem, err := Load("")
	require.NoError(t, err)
	require.NotEmpty(t, mem.Certificate)
}

// TestHandshake: our client and server configurations talk to each other
// over loopback (the peer's certificate is self-signed and not checked).
func TestHandshake(t *testing.T) {
	sc, err := Load("")
	require.NoError(t, err)
	cc, err := Load("")
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		s := tls.Server(c, Server(sc))
		if err := s.Handshake(); err != nil {
			done <- err
			return
		}
		_, err = s.Write([]byte("GNUTELLA/0.6 200 OK\r\n\r\n"))
		done <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), Client(cc))
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 23)
	_, err = c.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "GNUTELLA/0.6 200 OK\r\n\r\n", string(buf))
	require.NoError(t, <-done)
}

func TestIsClientHello(t *testing.T) {
	require.True(t, IsClientHello([]byte{0x16, 0x03, 0x01, 0x02}))
	for _, s := range []string{"GNUT", "GET ", "GIV ", "HEAD", "QUEU", "\x16\x02", "\x16"} {
		require.False(t, IsClientHello([]byte(s)), s)
	}
}

// FuzzLoad: whatever the two files hold, Load says no or gives a usable
// certificate; it never panics and never replaces them.
func FuzzLoad(f *testing.F) {
	c, certPEM, keyPEM, err := generate()
	if err != nil {
		f.Fatal(err)
	}
	_ = c
	f.Add(certPEM, keyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), keyPEM)
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, cert, key []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, CertFile), cert, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFile), key, 0o600))
		got, err := Load(dir)
		if err == nil {
			require.NotEmpty(t, got.Certificate)
		}
		after, rerr := os.ReadFile(filepath.Join(dir, CertFile))
		require.NoError(t, rerr)
		require.Equal(t, cert, after, "never replaced")
	})
}

// TestGTKGNegativeSerial: the certificate gtk-gnutella 1.2.3 made in the
// lab has a negative serial number (it does about half the time); we must
// parse it, or every TLS link to that gtk-gnutella fails (go.mod's
// godebug x509negativeserial=1).
func TestGTKGNegativeSerial(t *testing.T) {
	b, err := os.ReadFile("testdata/gtkg-cert-negative-serial.pem")
	require.NoError(t, err)
	blk, _ := pem.Decode(b)
	require.NotNil(t, blk)
	c, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	require.Negative(t, c.SerialNumber.Sign())
	require.Equal(t, "gtk-gnutella/1.2.3", c.Subject.CommonName)
}
