package transfer

import (
	"bufio"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/servent/servent/internal/bufconn"
	"github.com/servent/servent/protocol"
)

// Browse host (GNUTELLA-TRANSFERS.md 24, gtk-gnutella's bh_upload.c):
// "GET /" with "Accept: application/x-gnutella-packets" is answered with
// a stream of QueryHits naming every shared file (MUID all zero, TTL 1,
// hops 0), zlib-compressed when the client accepts deflate, chunked for an
// HTTP/1.1 client. A browser (text/html, */* or no Accept) gets a page
// listing the files; anything else 406.

// BrowseConfig turns browsing on (UploaderConfig.Browse).
type BrowseConfig struct {
	// Hits returns the hits naming every shared file, at most about
	// BrowseHitBytes of results each.
	Hits func() []protocol.QueryHit
	// Every bounds how often one address may browse; 0: BrowseEvery.
	Every time.Duration
}

const (
	// BrowseEvery: one browse per client address per minute. gtk-gnutella
	// allows one an hour and bans at three; a minute keeps a user who
	// browses again after a change from being refused for an hour.
	BrowseEvery = time.Minute
	// BrowseHitBytes bounds the results of one hit (gtk-gnutella's
	// BH_MAX_QHIT_SIZE, about 3500 bytes).
	BrowseHitBytes = 3500
	browseSeen     = 4096 // client addresses remembered for the throttle
)

// browseThrottle remembers when each address last browsed.
type browseThrottle struct {
	mu   sync.Mutex
	last map[netip.Addr]time.Time
}

func (t *browseThrottle) allow(ip netip.Addr, now time.Time, every time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[netip.Addr]time.Time{}
	}
	if at, ok := t.last[ip]; ok && now.Sub(at) < every {
		return false
	}
	if len(t.last) >= browseSeen {
		for k, at := range t.last {
			if now.Sub(at) >= every {
				delete(t.last, k)
			}
		}
		if len(t.last) >= browseSeen {
			return false // a flood of addresses: refuse rather than grow
		}
	}
	t.last[ip] = now
	return true
}

// browse answers GET /; false means close the connection.
func (c *upConn) browse(req *request) bool {
	bc := c.u.cfg.Browse
	if bc == nil || bc.Hits == nil {
		return c.writeStatus(403, "Browse Host Disabled", req.keepAlive()) && req.keepAlive()
	}
	accept := strings.ToLower(req.header.Get("Accept"))
	packets := strings.Contains(accept, "application/x-gnutella-packets")
	page := !packets && (accept == "" || strings.Contains(accept, "text/html") || strings.Contains(accept, "text/*") || strings.Contains(accept, "*/*"))
	if !packets && !page {
		return c.writeStatus(406, "Not Acceptable", req.keepAlive()) && req.keepAlive()
	}
	every := bc.Every
	if every <= 0 {
		every = BrowseEvery
	}
	if !c.u.browsed.allow(c.ip, time.Now(), every) {
		return c.writeStatus(429, "Cannot Browse Too Often", req.keepAlive()) && req.keepAlive()
	}
	hits := bc.Hits()
	chunked := req.minor >= 1
	deflate := packets && hasToken(req.header.Get("Accept-Encoding"), "deflate")
	b := c.startResponse(200, "OK", false)
	if packets {
		b = append(b, "Content-Type: application/x-gnutella-packets\r\n"...)
	} else {
		b = append(b, "Content-Type: text/html; charset=utf-8\r\n"...)
	}
	if deflate {
		b = append(b, "Content-Encoding: deflate\r\n"...)
	}
	if chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	b = append(b, "\r\n"...)
	if !c.write(b) || req.method == "HEAD" {
		return false
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.u.cfg.StallTimeout))
	var w io.Writer = c.conn
	var cw io.WriteCloser
	if chunked {
		cw = httputil.NewChunkedWriter(c.conn)
		w = cw
	}
	bw := bufio.NewWriterSize(w, 16<<10)
	var out io.Writer = bw
	var zw *zlib.Writer
	if deflate {
		zw = zlib.NewWriter(bw)
		out = zw
	}
	var err error
	if packets {
		for i := range hits {
			h := protocol.Header{Type: protocol.TypeQueryHit, TTL: 1}
			if _, err = out.Write(protocol.AppendMessage(nil, h, &hits[i])); err != nil {
				break
			}
		}
	} else {
		err = browsePage(out, hits)
	}
	if err == nil && zw != nil {
		err = zw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && cw != nil {
		if err = cw.Close(); err == nil {
			_, err = io.WriteString(c.conn, "\r\n") // the chunked body's empty trailer
		}
	}
	if err != nil {
		c.u.log.Debug("browse: send", "peer", c.conn.RemoteAddr(), "err", err)
	}
	return false // Connection: close, as gtk-gnutella
}

// browsePage writes the files as an HTML list with download links.
func browsePage(w io.Writer, hits []protocol.QueryHit) error {
	if _, err := io.WriteString(w, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Shared files</title></head><body><h1>Shared files</h1><ul>\n"); err != nil {
		return err
	}
	for i := range hits {
		for _, r := range hits[i].Results {
			link := fmt.Sprintf("/get/%d/%s", r.Index, url.PathEscape(r.Name))
			if _, err := fmt.Fprintf(w, "<li><a href=\"%s\">%s</a> (%d bytes)</li>\n", html.EscapeString(link), html.EscapeString(r.Name), r.Size); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(w, "</ul></body></html>\n")
	return err
}

// BrowseHits packs results into hits of at most BrowseHitBytes of
// results each, with template's trailer (address, servent GUID, flags).
func BrowseHits(template protocol.QueryHit, results []protocol.Result) []protocol.QueryHit {
	var out []protocol.QueryHit
	size := 0
	for _, r := range results {
		n := 8 + len(r.Name) + 2 + 45 // index, size, name, NULs, urn text
		if len(out) == 0 || size+n > BrowseHitBytes || len(out[len(out)-1].Results) == 255 {
			h := template
			h.Results = nil
			out = append(out, h)
			size = 0
		}
		last := &out[len(out)-1]
		last.Results = append(last.Results, r)
		size += n
	}
	return out
}

// Limits of a browse we make: what a hostile host can make us hold.
const (
	MaxBrowseBytes   = 32 << 20 // inflated stream
	MaxBrowseResults = 100_000
	browseTimeout    = 2 * time.Minute
	browseIdle       = 30 * time.Second
)

// ErrBrowseLimit: the host sent more than a browse may bring.
var ErrBrowseLimit = errors.New("browse answer too large")

// Browse asks the servent at addr for its files and calls fn for each hit,
// until the stream ends, a limit is reached (ErrBrowseLimit), or ctx
// ends. dial opens the connection (nil: a plain TCP dial).
func Browse(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string, userAgent string, fn func(*protocol.QueryHit) error) error {
	ctx, cancel := context.WithTimeout(ctx, browseTimeout)
	defer cancel()
	if dial == nil {
		d := net.Dialer{Timeout: 10 * time.Second}
		dial = d.DialContext
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := dial(ctx, network, a)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c}, nil
		},
		DisableCompression:     true, // we ask for deflate ourselves
		ResponseHeaderTimeout:  browseIdle,
		MaxResponseHeaderBytes: 16 << 10,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	if err != nil {
		return fmt.Errorf("browse %s: %w", addr, err)
	}
	req.Header.Set("Accept", "application/x-gnutella-packets")
	req.Header.Set("Accept-Encoding", "deflate")
	req.Header.Set("User-Agent", userAgent)
	req.Close = true
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("browse %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("browse %s: the host answered %s", addr, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/x-gnutella-packets") {
		return fmt.Errorf("browse %s: the host sent %q, not Gnutella packets", addr, ct)
	}
	var body io.Reader = resp.Body
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))) {
	case "", "identity":
	case "deflate":
		zr, err := zlib.NewReader(resp.Body)
		if err != nil {
			return fmt.Errorf("browse %s: deflated stream: %w", addr, err)
		}
		defer zr.Close()
		body = zr
	default:
		return fmt.Errorf("browse %s: unknown Content-Encoding %q", addr, resp.Header.Get("Content-Encoding"))
	}
	lr := &io.LimitedReader{R: body, N: MaxBrowseBytes + 1}
	br := bufio.NewReaderSize(lr, 32<<10)
	var hb [protocol.HeaderLen]byte
	payload := make([]byte, 0, 4<<10)
	results := 0
	for {
		if _, err := io.ReadFull(br, hb[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the stream ended between descriptors
			}
			if lr.N <= 0 {
				return fmt.Errorf("browse %s: %w (over %d MiB)", addr, ErrBrowseLimit, MaxBrowseBytes>>20)
			}
			return fmt.Errorf("browse %s: %w", addr, err)
		}
		var h protocol.Header
		if err := h.Decode(hb[:]); err != nil {
			return fmt.Errorf("browse %s: %w", addr, err)
		}
		if h.Length > protocol.MaxPayloadLen {
			return fmt.Errorf("browse %s: a descriptor of %d bytes", addr, h.Length)
		}
		payload = payload[:h.Length]
		if _, err := io.ReadFull(br, payload); err != nil {
			if lr.N <= 0 {
				return fmt.Errorf("browse %s: %w (over %d MiB)", addr, ErrBrowseLimit, MaxBrowseBytes>>20)
			}
			return fmt.Errorf("browse %s: truncated descriptor: %w", addr, err)
		}
		if h.Type != protocol.TypeQueryHit {
			continue // gtk-gnutella sends only hits; anything else is skipped
		}
		var hit protocol.QueryHit
		if err := hit.Decode(payload); err != nil {
			return fmt.Errorf("browse %s: %w", addr, err)
		}
		if results += len(hit.Results); results > MaxBrowseResults {
			return fmt.Errorf("browse %s: %w (over %d results)", addr, ErrBrowseLimit, MaxBrowseResults)
		}
		if err := fn(&hit); err != nil {
			return err
		}
	}
}

// idleConn gives every read browseIdle: a host that stops sending is cut
// off.
type idleConn struct{ net.Conn }

func (c *idleConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(browseIdle))
	return c.Conn.Read(b)
}

// PushDialer is a dial function for Browse that reaches a firewalled
// host: each dial sends a Push for src and returns the connection of its
// GIV (gtk-gnutella browses a firewalled host the same way: a push for
// index 0, then "GET /" on the GIV connection).
func (m *Manager) PushDialer(src Source) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		conn, br, err := m.PushConnect(ctx, src)
		if err != nil {
			return nil, err
		}
		return &bufconn.Conn{Conn: conn, R: br}, nil
	}
}
