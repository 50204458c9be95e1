package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// testTLS returns a server config with a fresh self-signed ECDSA P-256
// certificate, as servent/tlsid makes, and a client config that takes
// any certificate, as Gnutella servents do.
func testTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "servent test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}},
		&tls.Config{InsecureSkipVerify: true} //nolint:gosec // Gnutella TLS authenticates nobody
}

// startTLSServer serves HTTP over TLS with up on a loopback address, as
// the node does for a request whose first bytes were a TLS handshake:
// ServeConn gets the *tls.Conn, through wrap when not nil.
func startTLSServer(t testing.TB, cfg *tls.Config, up *Uploader, wrap func(*tls.Conn) net.Conn) *testServer {
	t.Helper()
	return startConnServer(t, "127.0.0.1", func(ctx context.Context, c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return
		}
		var conn net.Conn = tc
		if wrap != nil {
			conn = wrap(tc)
		}
		up.ServeConn(ctx, conn, bufio.NewReader(tc))
	})
}

// dialTLS dials addr and completes a TLS handshake as a client.
func dialTLS(ctx context.Context, cfg *tls.Config, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// writeSizes records the largest Write the uploader makes. It exposes
// what a *tls.Conn does and nothing more (no ReadFrom).
type writeSizes struct {
	net.Conn
	largest *atomic.Int64
}

func (w writeSizes) Write(p []byte) (int, error) {
	for {
		old := w.largest.Load()
		if int64(len(p)) <= old || w.largest.CompareAndSwap(old, int64(len(p))) {
			break
		}
	}
	return w.Conn.Write(p)
}

// TestDownloadOverTLS: the Manager, dialling TLS, downloads a 3 MiB file
// (12 chunks of 256 KiB) from an uploader serving on the *tls.Conn. The
// file arrives byte for byte, and the bodies went out in writes of the
// large buffer (a *tls.Conn cannot sendfile), not io.Copy's 32 KiB.
func TestDownloadOverTLS(t *testing.T) {
	_, readerFrom := any((*tls.Conn)(nil)).(io.ReaderFrom)
	require.False(t, readerFrom, "*tls.Conn has ReadFrom: writeSizes would hide it")

	content := randomBytes(t, 3<<20)
	f := shareFile(t, t.TempDir(), 1, "over tls.bin", content)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), MaxUploadsPerIP: 4})
	srvCfg, cliCfg := testTLS(t)
	var largest atomic.Int64
	srv := startTLSServer(t, srvCfg, up, func(tc *tls.Conn) net.Conn { return writeSizes{tc, &largest} })

	var dials atomic.Int64
	d := newDirs(t)
	m := openManager(t, d, func(c *ManagerConfig) {
		c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dialTLS(ctx, cliCfg, network, addr)
		}
	})
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, f.Name, f.Size, []Source{{Addr: srv.addr, Index: 1, Name: f.Name}})
	require.NoError(t, err)
	in := waitDone(t, m, sha)
	requireOnlyFile(t, d, in, content)
	got, err := os.ReadFile(in.Path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(content, got), "downloaded bytes differ")
	require.Positive(t, dials.Load())
	require.Equal(t, uint64(len(content)), up.BytesSent())
	require.Equal(t, int64(copyBufSize), largest.Load(), "TLS bodies not written through the large buffer")
}

// TestSlowTLSClient: a client that reads steadily but slowly over TLS
// gets the whole body. A timed-out write breaks a *tls.Conn for good, so
// the uploader never lets a write time out while the client moves: each
// write is one buffer with the whole stall limit (before, the deadline of
// a quarter of the limit cut such a client off after 32 KiB).
func TestSlowTLSClient(t *testing.T) {
	if testing.Short() {
		t.Skip("a paced reader for a few seconds")
	}
	content := randomBytes(t, 8<<20) // more than the socket buffers hold
	f := shareFile(t, t.TempDir(), 1, "slow.bin", content)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), StallTimeout: 2 * time.Second})
	srvCfg, cliCfg := testTLS(t)
	srv := startTLSServer(t, srvCfg, up, nil)
	c, err := dialTLS(t.Context(), cliCfg, "tcp", srv.addr.String())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /get/1/slow.bin HTTP/1.1\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReaderSize(c, 64<<10)
	_, err = readResponse(br)
	require.NoError(t, err)
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	for got.Len() < len(content) {
		n, err := io.ReadFull(br, buf[:min(len(buf), len(content)-got.Len())])
		got.Write(buf[:n])
		if err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // the client's pace: about 3 MB/s, a 4 MiB piece takes over a second
	}
	require.True(t, bytes.Equal(content, got.Bytes()), "got %d of %d bytes", got.Len(), len(content))
	require.Eventually(t, func() bool { return up.Served() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, up.Failed())
}
