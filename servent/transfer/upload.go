package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/httphdr"
	"github.com/servent/servent/protocol/thex"
	"github.com/servent/servent/servent/bwlimit"
)

// httpTime is the RFC 7231 date format (net/http.TimeFormat).
const httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"

// UploaderConfig configures an Uploader. Zero values take the defaults.
type UploaderConfig struct {
	Files Files // required
	// MaxUploads is the number of upload slots (connections serving a file
	// at once); default 4. MaxUploadsPerIP bounds one client; default 1 as
	// gtk-gnutella (max_uploads_ip).
	MaxUploads      int
	MaxUploadsPerIP int
	// RetryAfter is sent with 503 when the slots are full; default 60s.
	RetryAfter time.Duration
	// AltLocs returns other hosts known to share sha1 (X-Alt, up to 10).
	AltLocs func(sha1 protocol.SHA1) []netip.AddrPort
	// Mesh, when set, learns sources from downloaders' X-Alt and X-Nalt
	// and gives X-Alt and X-Falt to later requests for the file.
	Mesh *Mesh
	// FaltLocs returns firewalled hosts known to share sha1 with their
	// push proxies (X-Falt, to requesters that read it).
	FaltLocs func(sha1 protocol.SHA1) []httphdr.Falt
	// Partials gives what of a download in progress can be shared (PFSP):
	// requests by SHA-1 for it are served from the ranges that passed the
	// Tiger tree.
	Partials func(sha1 protocol.SHA1) (Partial, bool)
	// Trees gives a shared file's Tiger tree (THEX), when computed: then
	// responses carry X-Thex-URI and /uri-res/N2X serves the tree.
	Trees func(sha1 protocol.SHA1) (*thex.Tree, bool)
	// RateLimit caps the upload bandwidth of all uploads together in
	// bytes/s; 0 = unlimited (and the sendfile path). Limiter, when set,
	// is used instead and may change at run time.
	RateLimit int
	Limiter   *bwlimit.Limiter
	// IdleTimeout bounds the wait for a request (first or next on a
	// keep-alive connection, which holds no slot meanwhile); default 60s.
	IdleTimeout time.Duration
	// StallTimeout is how long a write may go without a byte accepted by
	// the client before the connection is dropped and its slot freed;
	// default 30s, gtk-gnutella's IO_STALLED (src/core/uploads.c). A slow
	// client that keeps reading is never cut off.
	StallTimeout time.Duration
	// ServerName is the Server header; default "servent/0.1".
	ServerName string
	// Features is the X-Features value of the first response on a
	// connection; empty = not sent (we advertise nothing we do not do).
	Features string
	// QueueSize and QueuePerIP bound the PARQ line behind the slots
	// (defaults QueueSize, QueuePerIP); QueuePollMin is the first place's
	// Retry-After (default 30 s, as gtk-gnutella; tests shorten it).
	QueueSize, QueuePerIP int
	QueuePollMin          time.Duration
	// Browse, when set, answers "GET /" with the shared files (browse
	// host); nil: 403 Browse Host Disabled.
	Browse *BrowseConfig
	// CallbackDial and ListenAddr make the QUEUE callbacks (RunCallbacks):
	// the dialer for them and our address for the QUEUE line. nil: no
	// callbacks.
	CallbackDial func(ctx context.Context, network, addr string) (net.Conn, error)
	ListenAddr   func() netip.AddrPort
	// Now gives the Date header (deadlines always use the real clock).
	Now    func() time.Time
	Logger *slog.Logger
}

// Uploader serves shared files over HTTP/1.1 on connections the node hands
// it. It is safe for concurrent use; one goroutine per connection.
type Uploader struct {
	cfg     UploaderConfig
	log     *slog.Logger
	limiter *bwlimit.Limiter // Unlimited(): sendfile

	mu                       sync.Mutex
	active                   int                // slots in use
	perIP                    map[netip.Addr]int // slots in use per client
	browsed                  browseThrottle
	queue                    *parqQueue
	slotFreed                chan struct{} // wakes RunCallbacks
	callsSent, callsAnswered atomic.Uint64 // QUEUE callbacks
	sent                     atomic.Uint64 // body bytes written
	served                   atomic.Uint64 // requests answered 200/206
	failed                   atomic.Uint64 // bodies cut short (the client left or stalled)
}

// NewUploader returns an Uploader for cfg.
func NewUploader(cfg UploaderConfig) *Uploader {
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = 4
	}
	if cfg.MaxUploadsPerIP <= 0 {
		cfg.MaxUploadsPerIP = 1
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 60 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = defaultStallTimeout
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "servent/0.1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u := &Uploader{cfg: cfg, log: cfg.Logger, perIP: make(map[netip.Addr]int), slotFreed: make(chan struct{}, 1)}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	u.queue = newParqQueue(cfg.QueueSize, cfg.QueuePerIP, cfg.QueuePollMin)
	u.limiter = cfg.Limiter
	if u.limiter == nil {
		u.limiter = new(bwlimit.Limiter)
		u.limiter.Set(int64(cfg.RateLimit))
	}
	return u
}

// BytesSent is the number of body bytes uploaded so far.
func (u *Uploader) BytesSent() uint64 { return u.sent.Load() }

// Served counts upload bodies sent whole.
func (u *Uploader) Served() uint64 { return u.served.Load() }

// Failed counts upload bodies cut short (the client left or stalled).
func (u *Uploader) Failed() uint64 { return u.failed.Load() }

// Active is the number of upload slots in use.
func (u *Uploader) Active() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.active
}

const (
	rateBurst   = 64 << 10
	sendSegment = 4 << 20 // sendfile in segments so BytesSent moves
	// defaultStallTimeout is gtk-gnutella's IO_STALLED: after 30 s without
	// progress it calls an upload stalled. It drops one only after
	// upload_connected_timeout (180 s), but it queues newcomers (PARQ)
	// where we answer 503, so a stalled client must not keep its slot.
	defaultStallTimeout = 30 * time.Second
	// stallTicks: a blocked write wakes this many times per StallTimeout
	// to see whether bytes moved, so a stall is seen within 1.25 of it.
	stallTicks = 4
	// copyBufSize is the buffer of an unlimited body sent to a conn
	// without ReadFrom: a *tls.Conn (issue 16), which encrypts in
	// userspace and so cannot sendfile. io.Copy would cost a file read
	// and a tls.Conn.Write (two 16 KiB records) per 32 KiB, and a new
	// 32 KiB buffer per segment; 256 KiB makes each Write emit 16
	// records, with 8 times fewer reads and calls. The gain is a few
	// per cent (BenchmarkUploadTLS, docs/benchmarks.md): AES-GCM and one
	// write(2) per record, which no buffer changes, are most of the cost.
	copyBufSize = 256 << 10
)

// copyBufs holds the copyBufSize buffers (*[]byte). Pooled rather than
// kept per connection: only a body being sent holds one, so an idle
// keep-alive connection costs nothing and the pool stays near the number
// of uploads in progress.
var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize)
	return &b
}}

// ServeConn answers HTTP requests on conn until the client closes, asks to
// close, idles out, or ctx ends. br holds the bytes the node already peeked
// and must be the only reader of conn. ServeConn closes conn.
func (u *Uploader) ServeConn(ctx context.Context, conn net.Conn, br *bufio.Reader) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := &upConn{u: u, ctx: ctx, conn: conn, br: br, first: true}
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		c.ip = ap.Addr().Unmap()
	}
	defer c.releaseSlot()
	for {
		_ = conn.SetReadDeadline(time.Now().Add(u.cfg.IdleTimeout))
		req, err := readRequest(br)
		if err != nil {
			switch {
			case errors.Is(err, ErrHeaderTooLarge):
				c.writeStatus(413, "Request Entity Too Large", false)
			case errors.Is(err, ErrMalformed):
				c.writeStatus(400, "Bad Request", false)
			}
			u.log.Debug("upload: request", "peer", conn.RemoteAddr(), "err", err)
			return
		}
		_ = conn.SetReadDeadline(time.Time{})
		keep := c.serve(req)
		// Between requests a keep-alive connection is idle: its slot goes
		// to whoever asks next, and the next request competes for one.
		c.releaseSlot()
		if !keep {
			return
		}
	}
}

// upConn is one upload connection; owned by its ServeConn goroutine.
type upConn struct {
	u     *Uploader
	ctx   context.Context
	conn  net.Conn
	br    *bufio.Reader
	ip    netip.Addr
	first bool // no response written yet: send X-Features
	fwalt bool // the requester reads X-Falt (fwalt in its X-Features)
	// alt4, alt6: the families of the X-Alt sources it takes (IP/6.x in
	// its X-Features); set per request.
	alt4, alt6 bool
	thexOut    bool     // X-Thex-URI went out on this connection (sent again after a 503)
	partial    *Partial // the request is for a file we are still downloading (X-Available on a 503)
	hasSlot    bool
	buf        []byte
}

func (c *upConn) acquireSlot() bool {
	if c.hasSlot {
		return true
	}
	u := c.u
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.active >= u.cfg.MaxUploads || u.perIP[c.ip] >= u.cfg.MaxUploadsPerIP {
		return false
	}
	u.active++
	u.perIP[c.ip]++
	c.hasSlot = true
	return true
}

func (c *upConn) releaseSlot() {
	if !c.hasSlot {
		return
	}
	u := c.u
	u.mu.Lock()
	u.active--
	if u.perIP[c.ip]--; u.perIP[c.ip] <= 0 {
		delete(u.perIP, c.ip)
	}
	u.mu.Unlock()
	c.hasSlot = false
	select {
	case u.slotFreed <- struct{}{}:
	default:
	}
}

// admit decides whether a GET gets a slot now: small requests always
// (gtk-gnutella's quick uploads), others through the PARQ line. Not ok: a
// 503 went out, and keepConn says whether the connection stays (a queued
// keep-alive request: the client polls on it).
func (c *upConn) admit(req *request, f File, n int64, keep bool) (ok bool, queueID string, keepConn bool) {
	if c.hasSlot {
		return true, "", false
	}
	got := c.acquireSlot()
	if n < quickBytes {
		return true, "", false // quick: served at once, with or without a slot
	}
	id := ""
	if v := req.header.Get("X-Queued"); v != "" {
		if qs, err := ParseXQueued(v); err == nil {
			id = qs.ID
		}
	}
	ans := c.u.queue.request(c.ip, fileKey(f), id, xNode(req.header), got, c.u.canTakeSlot, c.u.cfg.Now())
	if ans.answered {
		c.u.callsAnswered.Add(1)
	}
	if ans.serve {
		return true, ans.id, false
	}
	if got {
		c.releaseSlot() // someone is ahead in line
	}
	if ans.refused {
		b := c.startResponse(503, "Busy", false)
		b = fmt.Appendf(b, "Retry-After: %d\r\n", int(max(ans.retry, c.u.cfg.RetryAfter)/time.Second))
		b = c.fileHeaders(b, f)
		if c.partial != nil {
			b = availableHeader(b, *c.partial)
		}
		b = append(b, "Content-Length: 0\r\n\r\n"...)
		c.write(b)
		return false, "", false
	}
	secs := int(ans.retry / time.Second)
	b := c.startResponse(503, fmt.Sprintf("Queued (slot %d, ETA: %s)", ans.pos, humanETA(ans.retry)), keep)
	b = fmt.Appendf(b, "Retry-After: %d\r\nX-Queued: ID=%s; position=%d; lifetime=%d; length=%d; ETA=%d\r\n",
		secs, ans.id, ans.pos, int(ans.lifetime/time.Second), ans.len, secs)
	b = c.fileHeaders(b, f)
	if c.partial != nil {
		b = availableHeader(b, *c.partial)
	}
	b = append(b, "Content-Length: 0\r\n\r\n"...)
	c.thexOut = false // gtk-gnutella names the tree again after a 503
	return false, "", c.write(b) && keep
}

// canTakeSlot reports whether ip is under its per-address slot limit.
func (u *Uploader) canTakeSlot(ip netip.Addr) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.perIP[ip] < u.cfg.MaxUploadsPerIP
}

// fileKey names a file for the queue: one place per address and file.
func fileKey(f File) string {
	if !f.SHA1.IsZero() {
		return string(f.SHA1[:])
	}
	return strconv.FormatUint(uint64(f.Index), 10)
}

// Queued is the number of places taken in the PARQ line.
func (u *Uploader) Queued() int { return u.queue.Len() }

// serve answers one request; false means close the connection.
func (c *upConn) serve(req *request) bool {
	c.readFeatures(req)
	keep := req.keepAlive()
	head := req.method == "HEAD"
	if req.method != "GET" && !head {
		c.writeStatus(501, "Not Implemented", false)
		return false
	}
	if cl := req.header.Get("Content-Length"); req.header.Has("Transfer-Encoding") || (cl != "" && cl != "0") {
		// A body we would have to skip to stay in step: refuse and close.
		c.writeStatus(400, "Bad Request", false)
		return false
	}
	if req.target == "/" {
		return c.browse(req)
	}
	if isN2X(req.target) {
		return c.serveTree(req)
	}
	f, code, reason := c.lookup(req.target)
	if code == 404 {
		if p, ok := c.partialFor(req.target); ok {
			return c.servePartial(req, p)
		}
	}
	if code != 200 {
		// Error answers have an empty body, so the connection stays usable.
		return c.writeStatus(code, reason, keep) && keep
	}
	if claimed := req.header.Get("X-Gnutella-Content-URN"); claimed != "" && !f.SHA1.IsZero() {
		if s, err := protocol.ParseSHA1URN(strings.TrimSpace(strings.SplitN(claimed, ",", 2)[0])); err == nil && s != f.SHA1 {
			return c.writeStatus(404, "URN mismatch", keep) && keep
		}
	}
	c.learnMesh(req, f)
	rng, partial := byteRange{0, f.Size - 1}, false
	if v := req.header.Get("Range"); v != "" {
		r, ok, err := parseRange(v, f.Size)
		switch {
		case errors.Is(err, errUnsatisfiable):
			b := c.startResponse(416, "Requested Range Not Satisfiable", keep)
			b = fmt.Appendf(b, "Content-Range: bytes */%d\r\n", f.Size)
			b = c.fileHeaders(b, f)
			b = append(b, "Content-Length: 0\r\n\r\n"...)
			return c.write(b) && keep
		case err != nil:
			return c.writeStatus(400, "Malformed Range", false)
		case ok:
			rng, partial = r, true
		}
	}
	queueID := ""
	if !head {
		ok, id, keepConn := c.admit(req, f, rng.length(), keep)
		if !ok {
			return keepConn
		}
		queueID = id
	}
	var fh *os.File
	if !head && f.Size > 0 {
		var err error
		if fh, err = c.u.open(f); err != nil {
			c.u.log.Warn("upload: open", "path", f.Path, "err", err)
			return c.writeStatus(500, "Internal Server Error", false)
		}
		defer fh.Close()
		if st, err := fh.Stat(); err != nil || st.Size() < rng.last+1 || !st.Mode().IsRegular() {
			// The file changed under the index: do not send short bodies.
			return c.writeStatus(500, "File changed", false)
		}
	}
	var b []byte
	n := rng.length()
	if partial {
		b = c.startResponse(206, "Partial Content", keep)
		b = fmt.Appendf(b, "Content-Range: bytes %d-%d/%d\r\n", rng.first, rng.last, f.Size)
	} else {
		b = c.startResponse(200, "OK", keep)
	}
	if queueID != "" {
		b = append(b, "X-Queued: ID="...) // gtk-gnutella names the place served, for a resume
		b = append(b, queueID...)
		b = append(b, "\r\n"...)
	}
	if f.Size == 0 {
		n = 0
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, "\r\n"...)
	if !f.ModTime.IsZero() {
		b = append(b, "Last-Modified: "...)
		b = f.ModTime.UTC().AppendFormat(b, httpTime)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Content-Type: "...)
	b = append(b, contentType(f.Name)...)
	b = append(b, "\r\nContent-Disposition: inline; filename*=\"utf-8'en'"...)
	b = append(b, url.PathEscape(f.Name)...)
	b = append(b, "\"\r\n"...)
	b = c.fileHeaders(b, f)
	b = append(b, "\r\n"...)
	if !c.write(b) {
		return false
	}
	if fh == nil || n == 0 {
		return keep
	}
	if err := c.sendBody(fh, rng.first, n); err != nil {
		c.u.log.Debug("upload: body", "peer", c.conn.RemoteAddr(), "name", f.Name, "err", err)
		c.u.failed.Add(1)
		return false
	}
	c.u.served.Add(1)
	return keep
}

// sendBody copies n bytes of fh, from offset pos, to the
// connection: by sendfile when no rate limit applies (io.Copy to a
// *net.TCPConn, or any conn exposing ReadFrom, from an *io.LimitedReader
// around the *os.File), else through the limiter. A conn without
// ReadFrom (a *tls.Conn) gets the unlimited body through a pooled
// copyBufSize buffer instead of io.Copy's 32 KiB. The conn is never
// wrapped, so sendfile stays; each blocked write has a short deadline and
// the watch decides whether it moved (carry on) or stalled (give up).
func (c *upConn) sendBody(fh *os.File, pos, n int64) error {
	u := c.u
	if _, err := fh.Seek(pos, io.SeekStart); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	_, plain := c.conn.(io.ReaderFrom)
	// A *tls.Conn is broken by a write that times out: there every write
	// gets the whole stall limit, and a timeout ends the upload.
	w := stallWatch{limit: u.cfg.StallTimeout, last: time.Now(), brittle: !plain}
	if u.limiter.Unlimited() {
		// nil: io.CopyBuffer is io.Copy, ReadFrom and sendfile. Else
		// buf is used: an *io.LimitedReader has no WriteTo and the
		// conn no ReadFrom, so nothing bypasses it.
		var buf []byte
		seg := int64(sendSegment)
		if !plain {
			p := copyBufs.Get().(*[]byte)
			defer copyBufs.Put(p)
			buf = *p
			seg = int64(len(buf)) // a deadline per buffer: one write call
		}
		for n > 0 {
			seg := min(n, seg)
			_ = c.conn.SetWriteDeadline(w.deadline(time.Now()))
			m, err := io.CopyBuffer(c.conn, &io.LimitedReader{R: fh, N: seg}, buf)
			u.sent.Add(uint64(m))
			u.limiter.Count(int(m))
			n -= m
			pos += m
			if err == nil && m < seg {
				return fmt.Errorf("send: %w", io.ErrUnexpectedEOF)
			}
			if err := w.after(time.Now(), m, err); err != nil {
				return fmt.Errorf("send: %w", err)
			}
			if err != nil {
				// A userspace copy may have read past what was written.
				if _, err := fh.Seek(pos, io.SeekStart); err != nil {
					return fmt.Errorf("send: %w", err)
				}
			}
		}
		return nil
	}
	buf := make([]byte, rateBurst)
	for n > 0 {
		chunk := buf[:u.limiter.Piece(int(min(n, int64(len(buf)))))]
		if _, err := io.ReadFull(fh, chunk); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if err := u.limiter.WaitN(c.ctx, len(chunk)); err != nil {
			return fmt.Errorf("rate: %w", err)
		}
		for len(chunk) > 0 {
			_ = c.conn.SetWriteDeadline(w.deadline(time.Now()))
			m, err := c.conn.Write(chunk)
			u.sent.Add(uint64(m))
			n -= int64(m)
			chunk = chunk[m:]
			if err := w.after(time.Now(), int64(m), err); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		}
	}
	return nil
}

// stallWatch tells a slow client from a stalled one. A write gets a
// deadline of a fraction of limit; when it expires having moved bytes the
// write is resumed, and only limit without any progress ends it. On a
// brittle conn (TLS: a timed-out write leaves it unusable) a write gets
// the whole limit and its timeout is the end.
type stallWatch struct {
	limit   time.Duration
	last    time.Time // the last write that moved bytes
	brittle bool
}

// deadline is the write deadline for a write starting at now.
func (w *stallWatch) deadline(now time.Time) time.Time {
	if w.brittle {
		return now.Add(w.limit)
	}
	return now.Add(w.limit / stallTicks)
}

// after takes the outcome of a write that ended at now having written m
// bytes: nil to go on (done, or timed out within the stall limit), else
// the error to end the upload with.
func (w *stallWatch) after(now time.Time, m int64, err error) error {
	if m > 0 {
		w.last = now
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) || w.brittle {
		return err
	}
	if stalled := now.Sub(w.last); stalled >= w.limit {
		return fmt.Errorf("stalled %v: %w", stalled.Round(time.Millisecond), err)
	}
	return nil
}

// fileOpener is implemented by a Files view (a *sharedir.Library) that
// opens its files safely: through os.Root, refusing a file swapped for a
// symlink leading out of the shared folder since the scan.
type fileOpener interface {
	OpenFile(f File) (*os.File, error)
}

// open opens f for serving, through the Files view when it can.
func (u *Uploader) open(f File) (*os.File, error) {
	if o, ok := u.cfg.Files.(fileOpener); ok {
		return o.OpenFile(f)
	}
	return os.Open(f.Path)
}

// lookup maps a request target to a shared file. Only files from the
// Files view are returned: nothing in the target is ever used as a path.
func (c *upConn) lookup(target string) (File, int, string) {
	files := c.u.cfg.Files
	switch {
	case target == "/":
		return File{}, 403, "Browse Host Disabled"
	case strings.HasPrefix(target, "/get/"):
		idx, name, ok := strings.Cut(target[len("/get/"):], "/")
		if !ok {
			return File{}, 400, "Bad Request"
		}
		index, err := strconv.ParseUint(idx, 10, 32)
		if err != nil || idx == "" || idx[0] == '+' {
			return File{}, 400, "Bad Request"
		}
		decoded, err := url.PathUnescape(name) // once; "+" stays a plus
		if err != nil {
			return File{}, 400, "Bad Request"
		}
		f, found := files.ByIndex(uint32(index))
		if !found {
			return File{}, 404, "Not Found"
		}
		if decoded != f.Name {
			return File{}, 404, "File index/name mismatch"
		}
		return f, 200, ""
	case strings.HasPrefix(target, "/uri-res/"):
		svc, urn, ok := uriRes(target)
		if !ok || !strings.EqualFold(svc, "N2R") {
			return File{}, 404, "Not Found"
		}
		sha1, err := protocol.ParseSHA1URN(urn)
		if err != nil {
			return File{}, 400, "Malformed URN in /uri-res/N2R request"
		}
		f, found := files.BySHA1(sha1)
		if !found || f.SHA1 != sha1 {
			return File{}, 404, "Not Found"
		}
		return f, 200, ""
	}
	return File{}, 404, "Not Found"
}

// startResponse appends the status line and the headers every response
// carries, in gtk-gnutella's order.
func (c *upConn) startResponse(code int, reason string, keep bool) []byte {
	b := c.buf[:0]
	b = fmt.Appendf(b, "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: ", code, reason, c.u.cfg.ServerName)
	b = c.u.cfg.Now().UTC().AppendFormat(b, httpTime)
	if keep {
		b = append(b, "\r\nConnection: keep-alive\r\n"...)
	} else {
		b = append(b, "\r\nConnection: close\r\n"...)
	}
	if c.first && c.u.cfg.Features != "" {
		b = append(b, "X-Features: "...)
		b = append(b, c.u.cfg.Features...)
		b = append(b, "\r\n"...)
	}
	c.first = false
	return b
}

// fileHeaders appends the urn and the alternate locations of f.
func (c *upConn) fileHeaders(b []byte, f File) []byte {
	if f.SHA1.IsZero() {
		return b
	}
	b = append(b, "X-Gnutella-Content-URN: "...)
	b = f.SHA1.AppendURN(b)
	b = append(b, "\r\n"...)
	b = c.appendThexURI(b, f)
	return c.meshHeaders(b, f)
}

// writeStatus writes a response without a body; it returns false when the
// write failed.
func (c *upConn) writeStatus(code int, reason string, keep bool) bool {
	b := c.startResponse(code, reason, keep)
	b = append(b, "Content-Length: 0\r\n\r\n"...)
	return c.write(b)
}

func (c *upConn) write(b []byte) bool {
	c.buf = b[:0]
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.u.cfg.StallTimeout))
	_, err := c.conn.Write(b)
	return err == nil
}

// contentType guesses from the extension with a fixed table (the system
// mime database would make answers differ between hosts).
func contentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".txt":
		return "text/plain"
	case ".html", ".htm":
		return "text/html"
	case ".mp3":
		return "audio/mpeg"
	case ".ogg", ".oga":
		return "audio/ogg"
	case ".flac":
		return "audio/flac"
	case ".wav":
		return "audio/x-wav"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".pdf":
		return "application/pdf"
	case ".zip":
		return "application/zip"
	case ".mp4":
		return "video/mp4"
	case ".mkv":
		return "video/x-matroska"
	case ".avi":
		return "video/x-msvideo"
	}
	return "application/octet-stream"
}
