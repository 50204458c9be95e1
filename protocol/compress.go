package protocol

import (
	"bufio"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

// Stream compression of a Gnutella connection (GNUTELLA.md 7.7): after a
// side sent "Content-Encoding: deflate", everything it writes after that
// header block is one zlib (RFC 1950) stream, flushed with Z_SYNC_FLUSH
// whenever its queue runs empty.

// DeflateLevel is the default level of NewDeflateWriter. Measured with
// go1.26: a Go zlib writer holds about 800 KB at levels 6 and 9 and about
// 1.2 MB at BestSpeed (its fast-path tables), so the default level is also
// the leanest; count that per compressed connection.
const DeflateLevel = flate.DefaultCompression

// DeflateWriter is the sending half of a compressed connection.
type DeflateWriter struct {
	zw *zlib.Writer
}

// NewDeflateWriter starts a zlib stream on w at DeflateLevel. Nothing is
// written to w until the first Flush or Close.
func NewDeflateWriter(w io.Writer) *DeflateWriter {
	d, _ := NewDeflateWriterLevel(w, DeflateLevel)
	return d
}

// NewDeflateWriterLevel is NewDeflateWriter with a compress/flate level.
func NewDeflateWriterLevel(w io.Writer, level int) (*DeflateWriter, error) {
	zw, err := zlib.NewWriterLevel(w, level)
	if err != nil {
		return nil, fmt.Errorf("deflate writer: %w", err)
	}
	return &DeflateWriter{zw: zw}, nil
}

// Write compresses p; the bytes may stay buffered until Flush.
func (d *DeflateWriter) Write(p []byte) (int, error) { return d.zw.Write(p) }

// Flush emits everything written so far and a sync-flush marker so the
// peer can decode every complete descriptor: call it after each batch.
func (d *DeflateWriter) Flush() error { return d.zw.Flush() }

// Close ends the zlib stream (final block and Adler-32). It does not close
// the underlying writer.
func (d *DeflateWriter) Close() error { return d.zw.Close() }

// Inflate limit. A deflate stream can expand about 1000-fold, so a peer
// could make us decode gigabytes (CPU) from a few megabytes. The reader
// runs a token bucket: every compressed byte consumed earns maxRatio
// tokens, every inflated byte returned spends one, and the bucket holds at
// most InflateSlack tokens (it starts full). A legitimate burst, such as an
// uncompressed QRP patch of a nearly empty 2^21-slot table (1-2 MB of zeros
// that deflate a thousandfold), fits in the slack; a sustained bomb runs
// dry after about InflateSlack bytes and Read fails with ErrTooLarge.
// Credit earned long ago does not accumulate past the bucket size. The
// bucket must exceed 64 KiB: flate reads a whole stored block (up to
// 65535 bytes) before returning any of it.
const (
	DefaultInflateRatio = 100
	InflateSlack        = 4 << 20
)

// InflateReader is the receiving half of a compressed connection.
type InflateReader struct {
	src      countingReader
	zr       io.ReadCloser
	maxRatio int64
	capacity int64 // InflateSlack; tests shrink it
	tokens   int64
	lastIn   int64 // src.n when tokens were last credited
	out      int64
	err      error
}

// NewInflateReader reads the zlib stream from r (typically the connection's
// *bufio.Reader right after the handshake, which may already hold the
// first compressed bytes). maxRatio <= 0 means DefaultInflateRatio. Past
// the budget (see InflateSlack) Read fails with an error wrapping
// ErrTooLarge. The zlib header is read on the first Read, not here. A
// stream that ends before its first byte reads as io.EOF; one cut later
// gives ErrTruncated, bad data ErrMalformed; errors of r pass through.
func NewInflateReader(r io.Reader, maxRatio int) *InflateReader {
	if maxRatio <= 0 {
		maxRatio = DefaultInflateRatio
	}
	br, ok := r.(io.ByteReader)
	if !ok {
		b := bufio.NewReader(r)
		r, br = b, b
	}
	return &InflateReader{
		src:      countingReader{r: r, br: br, pb: -1},
		maxRatio: int64(maxRatio),
		capacity: InflateSlack,
		tokens:   InflateSlack,
	}
}

// Read returns inflated bytes.
func (z *InflateReader) Read(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if z.zr == nil {
		// A peer closing before its first compressed byte is a clean EOF.
		b, err := z.src.ReadByte()
		if err != nil {
			z.err = inflateError(err)
			return 0, z.err
		}
		z.src.pb = int(b)
		zr, err := zlib.NewReader(&z.src)
		if err != nil {
			z.err = inflateError(err)
			return 0, z.err
		}
		z.zr = zr
	}
	z.tokens = min(z.capacity, z.tokens+z.maxRatio*(z.src.n-z.lastIn))
	z.lastIn = z.src.n
	if z.tokens <= 0 {
		z.err = fmt.Errorf("%w: inflated %d bytes from %d (ratio limit %d)", ErrTooLarge, z.out, z.src.n, z.maxRatio)
		return 0, z.err
	}
	// Never hand out more than the tokens allow, so the limit fires before
	// the caller sees bytes past it.
	if int64(len(p)) > z.tokens {
		p = p[:z.tokens]
	}
	n, err := z.zr.Read(p)
	z.out += int64(n)
	z.tokens -= int64(n)
	if err != nil {
		err = inflateError(err)
		z.err = err
	}
	return n, err
}

// inflateError keeps io.EOF and errors of the source as they are, maps bad
// data to ErrMalformed and a cut stream to ErrTruncated.
func inflateError(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case err == io.EOF:
		return err
	case errors.As(err, &corrupt), errors.Is(err, zlib.ErrChecksum), errors.Is(err, zlib.ErrHeader):
		return fmt.Errorf("%w: inflate: %v", ErrMalformed, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: deflate stream cut short", ErrTruncated)
	}
	return fmt.Errorf("inflate: %w", err)
}

// In is the number of compressed bytes consumed; Out the inflated bytes
// returned.
func (z *InflateReader) In() int64  { return z.src.n }
func (z *InflateReader) Out() int64 { return z.out }

// countingReader counts what the decompressor consumes. It is an
// io.ByteReader, so flate reads through it without buffering ahead.
type countingReader struct {
	r  io.Reader
	br io.ByteReader
	n  int64
	pb int // a byte pushed back, or -1 (counted when first read)
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.pb >= 0 && len(p) > 0 {
		p[0] = byte(c.pb)
		c.pb = -1
		return 1, nil
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	if c.pb >= 0 {
		b := byte(c.pb)
		c.pb = -1
		return b, nil
	}
	b, err := c.br.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}
