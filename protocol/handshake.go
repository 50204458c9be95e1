package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/servent/servent/protocol/internal/textwire"
)

// Handshake header block limits GTKG enforces (GNUTELLA.md 2.1,
// gtkg:src/lib/header.h, getline.h). Over any of them the acceptor answers
// 413 and closes.
const (
	MaxHandshakeLine  = 1024  // bytes a line, line ending excluded
	MaxHandshakeLines = 128   // header lines, status line excluded
	MaxHandshakeBytes = 16384 // whole block, status line and line endings included
	DefaultPort       = 6346  // port of an X-Try entry that names none
)

// Handshake errors; each also matches ErrMalformed (ErrTooLarge for limits).
var (
	// ErrOldProtocol: "GNUTELLA CONNECT/0.4" or another pre-0.6 version.
	ErrOldProtocol = fmt.Errorf("%w: gnutella protocol older than 0.6", ErrMalformed)
	// ErrNotGnutella: the status line is not a Gnutella 0.6 one
	// ("HTTP/1.1 200 OK", "GNUTELLA OK", garbage).
	ErrNotGnutella = fmt.Errorf("%w: not a gnutella 0.6 handshake", ErrMalformed)
)

// HeaderField is one header line (continuations already joined).
type HeaderField struct {
	Name  string
	Value string
}

// Headers is a handshake header block in wire order. A name may repeat;
// Get joins the repeats. Names compare case-insensitively (ASCII).
type Headers []HeaderField

// Get returns the value of name; repeated headers are joined with ", "
// (RFC 2616 4.2, GTKG add_header). "" when absent.
func (h Headers) Get(name string) string {
	var v string
	found := false
	for _, f := range h {
		if !strings.EqualFold(f.Name, name) {
			continue
		}
		if found {
			v += ", " + f.Value
		} else {
			v, found = f.Value, true
		}
	}
	return v
}

// Has reports whether name is present (even with an empty value).
func (h Headers) Has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// Bool reports whether name's value is "true", in any case (10.8 H11).
func (h Headers) Bool(name string) bool {
	return strings.EqualFold(strings.TrimSpace(h.Get(name)), "true")
}

// Add appends a header line, keeping any earlier one of the same name.
func (h *Headers) Add(name, value string) {
	*h = append(*h, HeaderField{Name: name, Value: value})
}

// Set replaces every header called name with one line, at the position of
// the first one, or appends it.
func (h *Headers) Set(name, value string) {
	out := (*h)[:0]
	done := false
	for _, f := range *h {
		if strings.EqualFold(f.Name, name) {
			if done {
				continue
			}
			f = HeaderField{Name: name, Value: value}
			done = true
		}
		out = append(out, f)
	}
	if !done {
		out = append(out, HeaderField{Name: name, Value: value})
	}
	*h = out
}

// Del removes every header called name.
func (h *Headers) Del(name string) {
	out := (*h)[:0]
	for _, f := range *h {
		if !strings.EqualFold(f.Name, name) {
			out = append(out, f)
		}
	}
	clear((*h)[len(out):])
	*h = out
}

// Names returns the distinct names in wire order, spelled as first seen.
func (h Headers) Names() []string {
	names := make([]string, 0, len(h))
next:
	for _, f := range h {
		for _, n := range names {
			if strings.EqualFold(n, f.Name) {
				continue next
			}
		}
		names = append(names, f.Name)
	}
	return names
}

// Append writes one "Name: value\r\n" line per field, in order. CR and LF
// inside a name or value become spaces so a value cannot inject lines.
func (h Headers) Append(dst []byte) []byte {
	for _, f := range h {
		dst = appendNoCRLF(dst, f.Name)
		dst = append(dst, ':', ' ')
		dst = appendNoCRLF(dst, f.Value)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

func appendNoCRLF(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// Handshake is one header block of the 0.6 handshake: the initiator's
// "GNUTELLA CONNECT/0.6" request, or a "GNUTELLA/0.6 <code> <reason>"
// response (steps 2 and 3).
type Handshake struct {
	Connect bool   // "GNUTELLA CONNECT/<Version>" request
	Version string // "0.6"; "" is written as "0.6"
	Code    int    // response status; 0 for a request
	Reason  string // response reason text, may be empty
	Headers Headers
}

// RefusedAsLeaf reports whether a refusal says the peer is a leaf, which
// takes no peer links: GTKG answers "204 Shielded leaf node (4 peers max)"
// with X-Ultrapeer: False, GnutellaBun "503 Shielded leaf node (8
// ultrapeers max)" with no X-Ultrapeer at all.
func (h *Handshake) RefusedAsLeaf() bool {
	if h.Connect || h.Code == 200 {
		return false
	}
	if h.Headers.Has("X-Ultrapeer") && !h.Headers.Bool("X-Ultrapeer") {
		return true
	}
	const shielded = "shielded leaf"
	return len(h.Reason) >= len(shielded) && strings.EqualFold(h.Reason[:len(shielded)], shielded)
}

// Append writes the status line, the headers and the blank line, all CRLF.
func (h *Handshake) Append(dst []byte) []byte {
	v := h.Version
	if v == "" {
		v = "0.6"
	}
	if h.Connect {
		dst = append(dst, "GNUTELLA CONNECT/"...)
		dst = appendNoCRLF(dst, v)
	} else {
		dst = append(dst, "GNUTELLA/"...)
		dst = appendNoCRLF(dst, v)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(h.Code), 10)
		if h.Reason != "" {
			dst = append(dst, ' ')
			dst = appendNoCRLF(dst, h.Reason)
		}
	}
	dst = append(dst, '\r', '\n')
	dst = h.Headers.Append(dst)
	return append(dst, '\r', '\n')
}

// ReadHandshake reads one header block from br, up to and including its
// blank line and not one byte further: what follows may be a deflated
// descriptor stream and stays in br. Lines may end in CRLF or a bare LF.
//
// Header lines follow GTKG's header.c (GNUTELLA.md 2.4): a bad name or a
// line without a colon is skipped, and so are the continuation lines after
// it; the connection is not refused for them. Over a limit
// (MaxHandshakeLine, MaxHandshakeLines, MaxHandshakeBytes) the error wraps
// ErrTooLarge (answer 413). A status line that is not Gnutella 0.6 gives
// ErrNotGnutella or ErrOldProtocol. An early EOF gives ErrTruncated.
func ReadHandshake(br *bufio.Reader) (*Handshake, error) {
	var r lineReader
	r.br = br
	line, err := r.next()
	if err != nil {
		return nil, fmt.Errorf("handshake status line: %w", err)
	}
	hs, err := parseStatusLine(line)
	if err != nil {
		return nil, err
	}
	var arena [2048]byte
	var spans [32]fieldSpan
	p := headerParser{arena: arena[:0], spans: spans[:0]}
	for {
		line, err := r.next()
		if err != nil {
			return nil, fmt.Errorf("handshake headers: %w", err)
		}
		if len(line) == 0 {
			break
		}
		r.lines++
		if r.lines > MaxHandshakeLines {
			return nil, fmt.Errorf("%w: handshake has more than %d header lines", ErrTooLarge, MaxHandshakeLines)
		}
		p = p.line(line)
	}
	hs.Headers = p.headers()
	return hs, nil
}

// lineReader returns lines without their ending, never reading past the LF.
type lineReader struct {
	br    *bufio.Reader
	total int
	lines int
	long  []byte // a line longer than br's buffer
}

func (r *lineReader) next() ([]byte, error) {
	r.long = r.long[:0]
	for {
		frag, err := r.br.ReadSlice('\n')
		r.total += len(frag)
		if r.total > MaxHandshakeBytes {
			return nil, fmt.Errorf("%w: handshake block over %d bytes", ErrTooLarge, MaxHandshakeBytes)
		}
		if err == bufio.ErrBufferFull {
			r.long = append(r.long, frag...)
			if len(r.long) > MaxHandshakeLine+2 {
				return nil, fmt.Errorf("%w: handshake line over %d bytes", ErrTooLarge, MaxHandshakeLine)
			}
			continue
		}
		line := frag
		if len(r.long) > 0 {
			r.long = append(r.long, frag...)
			line = r.long
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: handshake ends before its blank line", ErrTruncated)
			}
			return nil, err
		}
		line = line[:len(line)-1] // LF
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > MaxHandshakeLine {
			return nil, fmt.Errorf("%w: handshake line of %d bytes, limit %d", ErrTooLarge, len(line), MaxHandshakeLine)
		}
		return line, nil
	}
}

func parseStatusLine(line []byte) (*Handshake, error) {
	s := strings.TrimRight(string(line), " \t")
	if rest, ok := strings.CutPrefix(s, "GNUTELLA CONNECT/"); ok {
		if err := checkVersion(rest); err != nil {
			return nil, fmt.Errorf("status line %q: %w", s, err)
		}
		return &Handshake{Connect: true, Version: rest}, nil
	}
	rest, ok := strings.CutPrefix(s, "GNUTELLA/")
	if !ok {
		return nil, fmt.Errorf("status line %.64q: %w", s, ErrNotGnutella)
	}
	version, rest, _ := strings.Cut(rest, " ")
	if err := checkVersion(version); err != nil {
		return nil, fmt.Errorf("status line %q: %w", s, err)
	}
	codeText, reason, _ := strings.Cut(rest, " ")
	if len(codeText) != 3 || !textwire.IsDigits(codeText) {
		return nil, fmt.Errorf("status line %q: bad status code: %w", s, ErrNotGnutella)
	}
	code, _ := strconv.Atoi(codeText)
	return &Handshake{Version: version, Code: code, Reason: strings.TrimSpace(reason)}, nil
}

// checkVersion accepts "major.minor" >= 0.6.
func checkVersion(v string) error {
	major, minor, ok := strings.Cut(v, ".")
	if !ok || !textwire.IsDigits(major) || !textwire.IsDigits(minor) || len(major) > 3 || len(minor) > 3 {
		return ErrNotGnutella
	}
	ma, _ := strconv.Atoi(major)
	mi, _ := strconv.Atoi(minor)
	if ma == 0 && mi < 6 {
		return ErrOldProtocol
	}
	return nil
}

// headerParser applies GTKG's header_append() rules line by line. Names
// and values are copied into one arena that becomes a single string, so a
// block costs a few allocations whatever its header count. A continuation
// always extends the last field, whose value ends the arena.
type headerParser struct {
	arena []byte
	spans []fieldSpan
	skip  bool // the last header line was bad: drop its continuations
}

type fieldSpan struct{ name, value, end int }

func (p *headerParser) headers() Headers {
	if len(p.spans) == 0 {
		return nil
	}
	s := string(p.arena)
	h := make(Headers, len(p.spans))
	for i, f := range p.spans {
		h[i] = HeaderField{Name: s[f.name:f.value], Value: s[f.value:f.end]}
	}
	return h
}

// isSpace is C isspace() in the "C" locale (GTKG is_ascii_space).
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

const spaces = " \t\r\n\v\f"

func (p headerParser) line(line []byte) headerParser {
	if isSpace(line[0]) {
		// Continuation: before any header it is an error line; after a
		// skipped line it is skipped too; whitespace-only is ignored.
		if len(p.spans) == 0 || p.skip {
			return p
		}
		v := bytes.TrimRight(bytes.TrimLeft(line, spaces), " \t")
		if len(v) == 0 {
			return p
		}
		last := &p.spans[len(p.spans)-1]
		if last.end > last.value {
			p.arena = append(p.arena, ' ')
		}
		p.arena = append(p.arena, v...)
		last.end = len(p.arena)
		return p
	}
	p.skip = true
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return p // malformed: no colon
	}
	name := line[:colon]
	seenSpace := false
	end := 0
	for i, c := range name {
		if isSpace(c) {
			seenSpace = true
			continue
		}
		// GTKG: ASCII letters, digits and '-' only; spaces only before ':'.
		if seenSpace || !isNameByte(c) {
			return p
		}
		end = i + 1
	}
	if end == 0 {
		return p // empty name
	}
	p.skip = false
	value := bytes.TrimRight(bytes.TrimLeft(line[colon+1:], spaces), " \t")
	f := fieldSpan{name: len(p.arena)}
	p.arena = append(p.arena, name[:end]...)
	f.value = len(p.arena)
	p.arena = append(p.arena, value...)
	f.end = len(p.arena)
	p.spans = append(p.spans, f)
	return p
}

func isNameByte(c byte) bool {
	return c == '-' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// ParseTryHosts parses an X-Try / X-Try-Ultrapeers value: a comma list of
// "ip:port" (IPv6 as "[ip]:port"). As GTKG's parse_ip_port(): a missing
// port is 6346, ports below 1024 and unparsable entries are skipped.
func ParseTryHosts(v string) []netip.AddrPort {
	var out []netip.AddrPort
	for entry := range strings.SplitSeq(v, ",") {
		if ap, ok := parseHostPort(strings.TrimSpace(entry)); ok {
			out = append(out, ap)
		}
	}
	return out
}

func parseHostPort(s string) (netip.AddrPort, bool) {
	if s == "" {
		return netip.AddrPort{}, false
	}
	var ap netip.AddrPort
	if a, err := netip.ParseAddr(s); err == nil {
		ap = netip.AddrPortFrom(a, DefaultPort)
	} else if ap, err = netip.ParseAddrPort(s); err != nil {
		return netip.AddrPort{}, false
	}
	a := ap.Addr()
	if a.Zone() != "" || a.IsUnspecified() || ap.Port() < 1024 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), ap.Port()), true
}

// FormatTryHosts is the X-Try-Ultrapeers value for hosts: "a:p, b:p".
func FormatTryHosts(hosts []netip.AddrPort) string {
	var b []byte
	for i, h := range hosts {
		if i > 0 {
			b = append(b, ',', ' ')
		}
		b = h.AppendTo(b)
	}
	return string(b)
}

// listenHeaders are the headers where a peer states its own listening
// address, in GTKG's node_intuit_address() order plus the older aliases.
var listenHeaders = []string{"Node", "Node-IPv6", "Listen-IP", "X-Listen-IP", "X-Node", "X-My-Address"}

// ListenAddr returns the address the peer says it listens on (10.8 H12):
// the first valid one of Node, Node-IPv6, Listen-IP, X-Listen-IP, X-Node,
// X-My-Address.
func ListenAddr(h Headers) (netip.AddrPort, bool) {
	for _, name := range listenHeaders {
		v := h.Get(name)
		if v == "" {
			continue
		}
		first, _, _ := strings.Cut(v, ",")
		if ap, ok := parseHostPort(strings.TrimSpace(first)); ok {
			return ap, true
		}
	}
	return netip.AddrPort{}, false
}
