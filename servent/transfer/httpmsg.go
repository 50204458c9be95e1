package transfer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/servent/servent/protocol"
)

// Limits on an HTTP header block we read, request or response. gtk-gnutella
// refuses request lines over 1 KiB and header blocks over 16 KiB; we are a
// little more lenient on the line (long urn-bearing X-Alt lines exist).
const (
	maxLineLen     = 4096
	maxHeaderLines = 64
	maxHeaderBytes = 16384
	maxBlankLines  = 4 // stray CRLFs tolerated before a request line
)

var (
	// ErrHeaderTooLarge: a line, the line count or the block is over its limit.
	ErrHeaderTooLarge = errors.New("transfer: HTTP header too large")
	// ErrMalformed: the bytes are not an HTTP message we accept.
	ErrMalformed = errors.New("transfer: malformed HTTP")
)

// headers is an HTTP header block in wire order: the same case-insensitive,
// repeat-joining lookup as a Gnutella handshake block.
type headers = protocol.Headers

// lineReader reads bounded lines from br and keeps the block budget.
type lineReader struct {
	br     *bufio.Reader
	budget int
}

// line returns one line without its CRLF or LF. It never buffers more than
// maxLineLen bytes, whatever br's size.
func (lr *lineReader) line() (string, error) {
	var buf []byte
	for {
		frag, err := lr.br.ReadSlice('\n')
		if len(buf)+len(frag) > maxLineLen || len(buf)+len(frag) > lr.budget {
			return "", fmt.Errorf("%w: line over %d bytes", ErrHeaderTooLarge, min(maxLineLen, lr.budget))
		}
		buf = append(buf, frag...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(buf) > 0 {
			return "", fmt.Errorf("%w: %w", ErrMalformed, io.ErrUnexpectedEOF)
		}
		return "", err
	}
	lr.budget -= len(buf)
	buf = buf[:len(buf)-1]
	if n := len(buf); n > 0 && buf[n-1] == '\r' {
		buf = buf[:n-1]
	}
	return string(buf), nil
}

// readHeaders reads header lines up to the blank line. Continuation lines
// (leading space or tab) extend the previous value.
func (lr *lineReader) readHeaders() (headers, error) {
	var h headers
	for {
		l, err := lr.line()
		if err != nil {
			return nil, err
		}
		if l == "" {
			return h, nil
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(h) == 0 {
				return nil, fmt.Errorf("%w: continuation line first", ErrMalformed)
			}
			h[len(h)-1].Value += " " + strings.TrimSpace(l)
			continue
		}
		if len(h) >= maxHeaderLines {
			return nil, fmt.Errorf("%w: over %d header lines", ErrHeaderTooLarge, maxHeaderLines)
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%w: header line %.40q", ErrMalformed, l)
		}
		h = append(h, protocol.HeaderField{Name: name, Value: strings.TrimSpace(value)})
	}
}

// request is one parsed HTTP request head.
type request struct {
	method string
	target string // raw, as on the request line
	minor  int    // HTTP/1.minor
	header headers
}

// keepAlive reports whether the client lets us read another request after
// this one: HTTP/1.1 unless "Connection: close", HTTP/1.0 never (the bun
// client keeps 1.0 open; gtk-gnutella and we close).
func (r *request) keepAlive() bool {
	if r.minor == 0 {
		return false
	}
	return !hasToken(r.header.Get("Connection"), "close")
}

// readRequest reads a request head. The target may contain raw spaces (the
// bun client sends unencoded names): the method is the first word and the
// version the last.
func readRequest(br *bufio.Reader) (*request, error) {
	lr := &lineReader{br: br, budget: maxHeaderBytes}
	var l string
	for blanks := 0; ; blanks++ {
		var err error
		if l, err = lr.line(); err != nil {
			return nil, err
		}
		if l != "" {
			break
		}
		if blanks >= maxBlankLines {
			return nil, fmt.Errorf("%w: blank lines", ErrMalformed)
		}
	}
	sp1 := strings.IndexByte(l, ' ')
	sp2 := strings.LastIndexByte(l, ' ')
	if sp1 <= 0 || sp2 <= sp1 {
		return nil, fmt.Errorf("%w: request line %.60q", ErrMalformed, l)
	}
	req := &request{method: l[:sp1], target: strings.Trim(l[sp1+1:sp2], " "), minor: -1}
	minor, ok := parseVersion(l[sp2+1:])
	if !ok || req.target == "" {
		return nil, fmt.Errorf("%w: request line %.60q", ErrMalformed, l)
	}
	req.minor = minor
	h, err := lr.readHeaders()
	if err != nil {
		return nil, err
	}
	req.header = h
	return req, nil
}

// parseVersion accepts "HTTP/1.0" and "HTTP/1.1" (and 1.x, treated as 1.1).
func parseVersion(v string) (minor int, ok bool) {
	rest, ok := strings.CutPrefix(v, "HTTP/1.")
	if !ok || rest == "" || len(rest) > 3 {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, false
	}
	return min(n, 1), true
}

// response is one parsed HTTP response head.
type response struct {
	minor  int
	code   int
	reason string
	header headers
}

func (r *response) keepAlive() bool {
	c := r.header.Get("Connection")
	if r.minor == 0 {
		return hasToken(c, "keep-alive")
	}
	return !hasToken(c, "close")
}

// readResponse reads a response head (status line and headers).
func readResponse(br *bufio.Reader) (*response, error) {
	lr := &lineReader{br: br, budget: maxHeaderBytes}
	l, err := lr.line()
	if err != nil {
		return nil, err
	}
	ver, rest, _ := strings.Cut(l, " ")
	minor, ok := parseVersion(ver)
	if !ok {
		return nil, fmt.Errorf("%w: status line %.60q", ErrMalformed, l)
	}
	codeStr, reason, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeStr)
	if err != nil || len(codeStr) != 3 || code < 100 {
		return nil, fmt.Errorf("%w: status line %.60q", ErrMalformed, l)
	}
	h, err := lr.readHeaders()
	if err != nil {
		return nil, err
	}
	return &response{minor: minor, code: code, reason: reason, header: h}, nil
}

// hasToken reports whether the comma-separated list v holds tok
// (case-insensitive).
func hasToken(v, tok string) bool {
	for p := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(p), tok) {
			return true
		}
	}
	return false
}

// byteRange is an inclusive range [first, last] within a file.
type byteRange struct{ first, last int64 }

func (r byteRange) length() int64 { return r.last - r.first + 1 }

var errUnsatisfiable = errors.New("transfer: range not satisfiable")

// parseRange resolves a Range header value against size. Only the first
// range of a list is used (gtk-gnutella does the same). ok=false with a nil
// error means "no usable Range: serve the whole file".
func parseRange(v string, size int64) (r byteRange, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes")
	if !found {
		return r, false, fmt.Errorf("%w: range unit in %.40q", ErrMalformed, v)
	}
	spec, found = strings.CutPrefix(strings.TrimLeft(spec, " "), "=")
	if !found {
		return r, false, fmt.Errorf("%w: range %.40q", ErrMalformed, v)
	}
	spec, _, _ = strings.Cut(spec, ",")
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return r, false, fmt.Errorf("%w: range %.40q", ErrMalformed, v)
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" { // suffix: the last n bytes
		n, err := parseUint(b)
		if err != nil {
			return r, false, err
		}
		if n == 0 || size == 0 {
			return r, false, errUnsatisfiable
		}
		n = min(n, size)
		return byteRange{size - n, size - 1}, true, nil
	}
	first, err := parseUint(a)
	if err != nil {
		return r, false, err
	}
	last := size - 1
	if b != "" {
		if last, err = parseUint(b); err != nil {
			return r, false, err
		}
		if last < first {
			return r, false, fmt.Errorf("%w: range %.40q ends before it starts", ErrMalformed, v)
		}
	}
	if first >= size {
		return r, false, errUnsatisfiable
	}
	return byteRange{first, min(last, size-1)}, true, nil
}

func parseUint(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, fmt.Errorf("%w: number %.25q", ErrMalformed, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: number %.25q", ErrMalformed, s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: number %.25q", ErrMalformed, s)
	}
	return n, nil
}

// parseContentRange reads "bytes a-b/total" (total may be "*").
func parseContentRange(v string) (r byteRange, total int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes")
	if !ok {
		return r, 0, fmt.Errorf("%w: content-range %.40q", ErrMalformed, v)
	}
	spec = strings.TrimLeft(spec, " =")
	rng, tot, ok := strings.Cut(spec, "/")
	if !ok {
		return r, 0, fmt.Errorf("%w: content-range %.40q", ErrMalformed, v)
	}
	total = -1
	if tot = strings.TrimSpace(tot); tot != "*" {
		if total, err = parseUint(tot); err != nil {
			return r, 0, err
		}
	}
	a, b, ok := strings.Cut(strings.TrimSpace(rng), "-")
	if !ok {
		return r, 0, fmt.Errorf("%w: content-range %.40q", ErrMalformed, v)
	}
	if r.first, err = parseUint(strings.TrimSpace(a)); err != nil {
		return r, 0, err
	}
	if r.last, err = parseUint(strings.TrimSpace(b)); err != nil {
		return r, 0, err
	}
	if r.last < r.first || (total >= 0 && r.last >= total) {
		return r, 0, fmt.Errorf("%w: content-range %.40q", ErrMalformed, v)
	}
	return r, total, nil
}

// maxAltLocs bounds what we take from one X-Alt header (and send in one).
const maxAltLocs = 10

// parseRetryAfter reads delta-seconds; absent or unparsable gives def.
func parseRetryAfter(v string, def int) int {
	n, err := parseUint(strings.TrimSpace(v))
	if err != nil {
		return def
	}
	return int(min(n, 24*3600))
}
