package transfer

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// pipeConn is a net.Pipe end with a distinct client address, so the
// per-IP cap does not lump every pipe client together.
type pipeConn struct {
	net.Conn
	remote net.Addr
}

func (p pipeConn) RemoteAddr() net.Addr { return p.remote }

// TestStalledClientsFreeSlots: with the default settings, four clients
// that read the response head and then nothing more hold every slot. They
// must lose them once their writes have moved no byte for the stall limit,
// well before the 60 s the write deadline used to allow, so a newcomer is
// served. Virtual time (synctest) over net.Pipe: no real waiting.
func TestStalledClientsFreeSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := shareFile(t, t.TempDir(), 1, "big.bin", make([]byte, 1<<20))
		up := NewUploader(UploaderConfig{Files: newMemFiles(f)})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		dial := func(i int) (net.Conn, *bufio.Reader) {
			cli, srv := net.Pipe()
			remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(10+i)), Port: 4000}
			go up.ServeConn(ctx, pipeConn{srv, remote}, bufio.NewReader(srv))
			t.Cleanup(func() { cli.Close() })
			return cli, bufio.NewReader(cli)
		}
		for i := range 4 {
			c, br := dial(i)
			_, err := io.WriteString(c, "GET /get/1/big.bin HTTP/1.1\r\n\r\n")
			require.NoError(t, err)
			resp, err := readResponse(br)
			require.NoError(t, err)
			require.Equal(t, 200, resp.code)
		}
		synctest.Wait() // every upload is blocked writing its body
		require.Equal(t, 4, up.Active())
		c, br := dial(5)
		_, err := io.WriteString(c, "GET /get/1/big.bin HTTP/1.1\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		resp, err := readResponse(br)
		require.NoError(t, err)
		require.Equal(t, 503, resp.code, "slots are held while their holders are fresh")

		// Virtual time: 45 s of no progress, past the stall limit and short
		// of the 60 s a stalled write used to hold its slot.
		time.Sleep(45 * time.Second)
		synctest.Wait()
		require.Equal(t, 0, up.Active(), "stalled uploads keep their slots")
		c, br = dial(6)
		_, err = io.WriteString(c, "GET /get/1/big.bin HTTP/1.1\r\nRange: bytes=0-99\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		resp, err = readResponse(br)
		require.NoError(t, err)
		require.Equal(t, 206, resp.code)
		body, err := io.ReadAll(br)
		require.NoError(t, err)
		require.Len(t, body, 100)
	})
}

// TestIdleKeepAliveHoldsNoSlot: a client that got its file and keeps the
// connection open for a next request does not keep the only slot.
func TestIdleKeepAliveHoldsNoSlot(t *testing.T) {
	f := shareFile(t, t.TempDir(), 1, "a.txt", []byte("hello"))
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), MaxUploads: 1})
	srv := startServer(t, "127.0.0.1", up, nil)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c1, err := d.Dial("tcp", srv.addr.String())
	require.NoError(t, err)
	defer c1.Close()
	br1 := bufio.NewReader(c1)
	get := func() {
		t.Helper()
		_, err := io.WriteString(c1, "GET /get/1/a.txt HTTP/1.1\r\n\r\n")
		require.NoError(t, err)
		resp, err := readResponse(br1)
		require.NoError(t, err)
		require.Equal(t, 200, resp.code)
		require.Equal(t, "keep-alive", resp.header.Get("Connection"))
		body := make([]byte, 5)
		_, err = io.ReadFull(br1, body)
		require.NoError(t, err)
		require.Equal(t, "hello", string(body))
	}
	get()
	// The first client now idles between requests.
	require.Eventually(t, func() bool { return up.Active() == 0 }, 5*time.Second, 2*time.Millisecond,
		"an idle keep-alive connection holds the slot")
	resp, body := splitResponse(t, exchange(t, "127.0.0.3", srv.addr, []byte("GET /get/1/a.txt HTTP/1.1\r\nConnection: close\r\n\r\n")))
	require.Equal(t, 200, resp.code)
	require.Equal(t, "hello", string(body))
	get() // and the idle connection is still good for its next request
}

// sparseFile is a shared file of size zero bytes that takes no disk.
func sparseFile(t testing.TB, dir string, index uint32, name string, size int64) File {
	t.Helper()
	p := filepath.Join(dir, name)
	fh, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, fh.Truncate(size))
	require.NoError(t, fh.Close())
	return File{Index: index, Path: p, Name: name, Size: size}
}

// TestStalledReadersFreeSlotsTCP: the same over real sockets, where the
// body goes by sendfile: readers that stop lose their slots after the
// stall limit, and a reader that keeps up is served in full.
func TestStalledReadersFreeSlotsTCP(t *testing.T) {
	// Large enough that the kernel buffers fill and sendfile blocks.
	f := sparseFile(t, t.TempDir(), 1, "big.bin", 64<<20)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), MaxUploads: 2, StallTimeout: 500 * time.Millisecond})
	srv := startServer(t, "127.0.0.1", up, nil)
	for i := range 2 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}}
		c, err := d.Dial("tcp", srv.addr.String())
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, "GET /get/1/big.bin HTTP/1.1\r\n\r\n")
		require.NoError(t, err)
		resp, err := readResponse(bufio.NewReader(c))
		require.NoError(t, err)
		require.Equal(t, 200, resp.code)
	}
	require.Eventually(t, func() bool { return up.Active() == 0 }, 10*time.Second, 5*time.Millisecond,
		"stalled readers keep their slots")
	require.Less(t, up.BytesSent(), uint64(2*f.Size), "the stalled bodies cannot have gone out")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}}
	c, err := d.Dial("tcp", srv.addr.String())
	require.NoError(t, err)
	defer c.Close()
	const want = 16 << 20
	_, err = io.WriteString(c, "GET /get/1/big.bin HTTP/1.1\r\nRange: bytes=0-16777215\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := readResponse(br)
	require.NoError(t, err)
	require.Equal(t, 206, resp.code)
	n, err := io.Copy(io.Discard, br)
	require.NoError(t, err)
	require.Equal(t, int64(want), n)
}

// TestStallWatch: a write that timed out having moved bytes is resumed;
// one that moved nothing for the limit ends the upload; other errors end
// it at once.
func TestStallWatch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := stallWatch{limit: 30 * time.Second, last: t0}
	require.Equal(t, t0.Add(7500*time.Millisecond), w.deadline(t0))
	timeout := os.ErrDeadlineExceeded
	require.NoError(t, w.after(t0.Add(8*time.Second), 1, timeout), "progress: resume")
	require.NoError(t, w.after(t0.Add(37*time.Second), 0, timeout), "29 s without progress: resume")
	require.ErrorIs(t, w.after(t0.Add(38*time.Second), 0, timeout), os.ErrDeadlineExceeded)
	require.NoError(t, w.after(t0.Add(39*time.Second), 0, nil), "done")
	require.ErrorIs(t, w.after(t0.Add(40*time.Second), 5, io.ErrClosedPipe), io.ErrClosedPipe)
}

// TestStallWatchBrittle: on a TLS conn a write gets the whole limit and
// its timeout ends the upload, progress or not.
func TestStallWatchBrittle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := stallWatch{limit: 30 * time.Second, last: t0, brittle: true}
	require.Equal(t, t0.Add(30*time.Second), w.deadline(t0))
	require.NoError(t, w.after(t0.Add(time.Second), 100, nil))
	require.ErrorIs(t, w.after(t0.Add(31*time.Second), 1, os.ErrDeadlineExceeded), os.ErrDeadlineExceeded)
}
