package protocol

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The recorded wire bytes of every exchange, handshake blocks read with
// ReadHandshake and the rest inflated when the peer said
// Content-Encoding: deflate, give exactly the recorded descriptors.
func TestInflateInteropReplay(t *testing.T) {
	var wires []string
	for _, d := range []string{"gtk-gnutella", "gnutella-bun-client"} {
		m, err := filepath.Glob(filepath.Join(interopDir, d, "*.rx-wire.bin"))
		require.NoError(t, err)
		wires = append(wires, m...)
	}
	deflated := 0
	for _, wire := range wires {
		msgsFile := strings.TrimSuffix(wire, ".rx-wire.bin") + ".rx-msgs.bin"
		want, err := os.ReadFile(msgsFile)
		if errors.Is(err, os.ErrNotExist) {
			continue // refused connections: no descriptors
		}
		require.NoError(t, err)
		t.Run(filepath.Base(wire), func(t *testing.T) {
			raw, err := os.ReadFile(wire)
			require.NoError(t, err)
			br := bufio.NewReader(bytes.NewReader(raw))
			hs, err := ReadHandshake(br)
			require.NoError(t, err)
			if hs.Connect { // the peer dialled: its request, then its ack
				hs, err = ReadHandshake(br)
				require.NoError(t, err)
				require.Equal(t, 200, hs.Code)
			}
			var r io.Reader = br
			var z *InflateReader
			if strings.EqualFold(hs.Headers.Get("Content-Encoding"), "deflate") {
				z = NewInflateReader(br, 0)
				r = z
				deflated++
			}
			got, err := io.ReadAll(r)
			if z != nil {
				// The capture ends mid-stream (no final block).
				require.ErrorIs(t, err, ErrTruncated)
				require.Equal(t, int64(len(got)), z.Out())
				require.Positive(t, z.In())
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, want, got)
		})
	}
	require.GreaterOrEqual(t, deflated, 15)
}

// The probe's side: *.tx-msgs.bin starts with the probe's own handshake
// blocks (unlike *.rx-msgs.bin), then the descriptors it sent; *.tx-wire.bin
// has the same blocks, then those descriptors, deflated when the probe's
// last block said so (Python zlib).
func TestInflateInteropReplayTx(t *testing.T) {
	var wires []string
	for _, d := range []string{"gtk-gnutella", "gnutella-bun-client"} {
		m, err := filepath.Glob(filepath.Join(interopDir, d, "*.tx-wire.bin"))
		require.NoError(t, err)
		wires = append(wires, m...)
	}
	require.NotEmpty(t, wires)
	deflated := 0
	for _, wire := range wires {
		t.Run(filepath.Base(wire), func(t *testing.T) {
			msgs, err := os.ReadFile(strings.TrimSuffix(wire, ".tx-wire.bin") + ".tx-msgs.bin")
			require.NoError(t, err)
			raw, err := os.ReadFile(wire)
			require.NoError(t, err)
			mbr := bufio.NewReader(bytes.NewReader(msgs))
			wbr := bufio.NewReader(bytes.NewReader(raw))
			var last *Handshake
			for {
				head, _ := mbr.Peek(8)
				if !bytes.HasPrefix(head, []byte("GNUTELLA")) {
					break
				}
				hs, err := ReadHandshake(mbr)
				require.NoError(t, err)
				hw, err := ReadHandshake(wbr)
				require.NoError(t, err)
				require.Equal(t, hs, hw)
				last = hs
			}
			require.NotNil(t, last)
			want, err := io.ReadAll(mbr)
			require.NoError(t, err)
			var r io.Reader = wbr
			if strings.EqualFold(last.Headers.Get("Content-Encoding"), "deflate") {
				r = NewInflateReader(wbr, 0)
				deflated++
			}
			got, err := io.ReadAll(r)
			if err != nil {
				require.ErrorIs(t, err, ErrTruncated) // capture ends mid-stream
			}
			require.Equal(t, want, got)
		})
	}
	require.Positive(t, deflated)
}

// The gtk-gnutella stream uses a 16 KiB window (zlib header 68 81).
func TestInflateGTKGLeafStream(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(interopDir, "gtk-gnutella/02-leaf-deflate-ping-query.rx-wire.bin"))
	require.NoError(t, err)
	hs2, err := os.ReadFile(filepath.Join(interopDir, "gtk-gnutella/02-leaf-deflate-ping-query.hs2-response.bin"))
	require.NoError(t, err)
	require.Equal(t, hs2, raw[:len(hs2)])
	require.Equal(t, []byte{0x68, 0x81}, raw[len(hs2):len(hs2)+2])
	want, err := os.ReadFile(filepath.Join(interopDir, "gtk-gnutella/02-leaf-deflate-ping-query.rx-msgs.bin"))
	require.NoError(t, err)

	br := bufio.NewReader(bytes.NewReader(raw))
	_, err = ReadHandshake(br)
	require.NoError(t, err)
	z := NewInflateReader(br, 0)
	got := make([]byte, len(want))
	_, err = io.ReadFull(z, got)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, int64(len(raw)-len(hs2)), z.In())
}

// Every flushed batch is readable before the writer sends more.
func TestDeflateFlushPerBatch(t *testing.T) {
	pr, pw := io.Pipe()
	w := NewDeflateWriter(pw)
	r := NewInflateReader(pr, 0)
	batches := [][]byte{
		bytes.Repeat([]byte("ping "), 10),
		[]byte("x"),
		bytes.Repeat([]byte{0}, 70000),
		[]byte("query alpha beta"),
	}
	next := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		defer close(werr)
		for _, b := range batches {
			if _, err := w.Write(b); err != nil {
				werr <- err
				return
			}
			if err := w.Flush(); err != nil {
				werr <- err
				return
			}
			<-next // the reader must get b without more input
		}
		if err := w.Close(); err != nil {
			werr <- err
			return
		}
		werr <- pw.Close()
	}()
	for _, b := range batches {
		got := make([]byte, len(b))
		done := make(chan error, 1)
		go func() { _, err := io.ReadFull(r, got); done <- err }()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("flushed batch not readable")
		}
		require.Equal(t, b, got)
		next <- struct{}{}
	}
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Empty(t, rest)
	require.NoError(t, <-werr)
	_, err = NewDeflateWriterLevel(io.Discard, 42) // no such level
	require.Error(t, err)
}

func deflateBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := NewDeflateWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	zr, err := zlib.NewReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	back, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, b, back)
	return buf.Bytes()
}

func TestInflateBomb(t *testing.T) {
	bomb := deflateBytes(t, make([]byte, 6<<20))
	require.Less(t, len(bomb), 32<<10)
	z := NewInflateReader(bytes.NewReader(bomb), 0)
	n, err := io.Copy(io.Discard, z)
	require.ErrorIs(t, err, ErrTooLarge)
	require.LessOrEqual(t, n, int64(InflateSlack)+DefaultInflateRatio*int64(len(bomb)))
	require.Greater(t, n, int64(InflateSlack)) // the slack passes
	_, err = z.Read(make([]byte, 10))
	require.ErrorIs(t, err, ErrTooLarge) // sticky

	// A burst within the slack is fine.
	ok := deflateBytes(t, make([]byte, 2<<20))
	n, err = io.Copy(io.Discard, NewInflateReader(bytes.NewReader(ok), 0))
	require.NoError(t, err)
	require.Equal(t, int64(2<<20), n)
}

func TestInflateBucket(t *testing.T) {
	const capacity = 100000
	// Incompressible data (stored blocks) passes at ratio 2, however long.
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	z := NewInflateReader(bytes.NewReader(deflateBytes(t, data)), 2)
	z.capacity, z.tokens = capacity, capacity
	got, err := io.ReadAll(z)
	require.NoError(t, err)
	require.Equal(t, data, got)

	// Zeros after a long good stretch are still cut: credit earned
	// earlier does not pile up past the bucket.
	mixed := append(bytes.Clone(data), make([]byte, 300<<10)...)
	z = NewInflateReader(bytes.NewReader(deflateBytes(t, mixed)), 2)
	z.capacity, z.tokens = capacity, capacity
	n, err := io.Copy(io.Discard, z)
	require.ErrorIs(t, err, ErrTooLarge)
	require.GreaterOrEqual(t, n, int64(len(data)))
	require.Less(t, n, int64(len(data)+2*capacity))
}

func TestInflateErrors(t *testing.T) {
	_, err := io.ReadAll(NewInflateReader(strings.NewReader(""), 0))
	require.NoError(t, err) // clean EOF before any byte
	_, err = io.ReadAll(NewInflateReader(strings.NewReader("GNUTELLA"), 0))
	require.ErrorIs(t, err, ErrMalformed)
	good := deflateBytes(t, []byte("hello hello hello"))
	_, err = io.ReadAll(NewInflateReader(bytes.NewReader(good[:len(good)-3]), 0))
	require.ErrorIs(t, err, ErrTruncated)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 0xff // Adler-32
	_, err = io.ReadAll(NewInflateReader(bytes.NewReader(bad), 0))
	require.ErrorIs(t, err, ErrMalformed)
	// Network errors pass through unchanged.
	boom := errors.New("boom")
	_, err = io.ReadAll(NewInflateReader(io.MultiReader(bytes.NewReader(good[:5]), iotestErr{boom}), 0))
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, ErrMalformed)
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

func FuzzInflateReader(f *testing.F) {
	var buf bytes.Buffer
	w := NewDeflateWriter(&buf)
	_, _ = w.Write([]byte("GNUTELLA descriptors"))
	_ = w.Flush()
	f.Add(bytes.Clone(buf.Bytes()))
	_ = w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{0x68, 0x81, 0x5c, 0xcf, 0x5b, 0x0a, 0xc2})
	f.Add([]byte{0x78, 0x9c, 0x03, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		z := NewInflateReader(bytes.NewReader(in), 4)
		z.capacity, z.tokens = 70000, 70000
		n, _ := io.Copy(io.Discard, z)
		require.LessOrEqual(t, n, 4*int64(len(in))+70000)
		require.Equal(t, n, z.Out())
		require.LessOrEqual(t, z.In(), int64(len(in)))
	})
}
