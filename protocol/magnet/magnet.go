// Package magnet reads and writes magnet URIs as gtk-gnutella does
// (gtkg src/lib/magnet.c), so that a link a user pastes, or one that
// gtk-gnutella prints, names the same file, size and sources here.
//
// Parse is stricter than gtk-gnutella in one way: a value it understands
// but cannot read (a bad urn:sha1, a malformed http:// source) is an error
// naming the key and value, where gtk-gnutella logs and skips it. Values it
// does not understand (unknown keys, urn:btih, ed2kftp:// sources) are
// skipped, as gtk-gnutella does.
package magnet

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/internal/textwire"
)

// Bounds of what Parse accepts.
const (
	MaxLen      = 8 << 10 // bytes of the whole magnet
	MaxSources  = 32      // xs and as together
	MaxValueLen = 1024    // bytes of a decoded dn, kt or x.* value
	MaxKeywords = 32      // kt values
	MaxProxies  = 8       // push proxies of one push:// source
	MaxHostLen  = 255     // a host name in an http:// source (gtkg MAX_HOSTLEN)

	// HTTPPort is the port of an http:// source that names none, as
	// gtk-gnutella reads it (magnet_parse_host_port).
	HTTPPort = 80
)

// Magnet is a parsed magnet URI.
type Magnet struct {
	SHA1   protocol.SHA1 // xt urn:sha1 or urn:bitprint, or an N2R source; zero when unknown
	TTH    protocol.TTH  // Tiger tree root, when HasTTH
	HasTTH bool          // xt urn:tree:tiger[/]: or urn:bitprint
	Name   string        // dn, decoded (the first dn wins)
	Size   int64         // xl; 0 when unknown (gtk-gnutella writes no xl then)

	Sources  []Source // xs and as, in order; String writes them all as xs
	Keywords []string // kt

	ParqID string // x.parq-id: PARQ ID to present to the (single) source
	Vendor string // x.vndr: the source's vendor
	GUID   string // x.guid: the source's servent GUID, as written
	DHT    bool   // x.dht: the source publishes in the DHT
	G2     bool   // x.g2: the source is a G2 node
}

// Source is an xs or as value: an http:// URL or a push:// URL.
//
// An http:// source has Addr or Host, and Port. A push:// source has Push,
// GUID and Proxies. A path /uri-res/N2R?<urn> is kept as SHA1 (Path is
// then empty), any other path as Path.
type Source struct {
	Addr netip.Addr // http: the host's address; invalid when Host is set
	Host string     // http: the host name when it is not an address (not resolved here)
	Port uint16     // http: the port; HTTPPort when the URL names none

	Push    bool             // push://<GUID>[:proxy...]/path: a firewalled servent
	GUID    [16]byte         // push: the servent's GUID
	Proxies []netip.AddrPort // push: its push proxies, in order

	SHA1 protocol.SHA1 // path /uri-res/N2R?urn:sha1:... (or urn:bitprint:)
	Path string        // any other path, decoded, starting with '/'
}

// Error is a magnet that cannot be read. Its message is one line:
// `magnet: xt "urn:sha1:XYZ": not a SHA-1 urn`.
type Error struct {
	Key    string // the key whose value is bad; empty for the magnet as a whole
	Value  string // that value, decoded
	Reason string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return "magnet: " + e.Reason
	}
	return "magnet: " + e.Key + " " + textwire.QuoteShort(e.Value) + ": " + e.Reason
}

// Unwrap makes errors.Is(err, protocol.ErrMalformed) true.
func (e *Error) Unwrap() error { return protocol.ErrMalformed }

type key int

const (
	keyNone key = iota
	keyAS
	keyDN
	keyKT
	keyDHT
	keyG2
	keyGUID
	keyParqID
	keyVendor
	keyXL
	keyXS
	keyXT
)

var keyNames = [...]string{
	keyAS: "as", keyDN: "dn", keyKT: "kt", keyDHT: "x.dht", keyG2: "x.g2",
	keyGUID: "x.guid", keyParqID: "x.parq-id", keyVendor: "x.vndr",
	keyXL: "xl", keyXS: "xs", keyXT: "xt",
}

// lookupKey matches a key case-insensitively (gtkg magnet_key_get).
func lookupKey(name string) key {
	for k := keyAS; k <= keyXT; k++ {
		if strings.EqualFold(name, keyNames[k]) {
			return k
		}
	}
	return keyNone
}

// Parse reads a magnet URI ("magnet:?xt=...&dn=..."). Keys are matched
// case-insensitively and unknown keys are ignored. Values are decoded as
// gtk-gnutella does: '+' is a space, then %XX escapes (%00 is refused).
// A SHA-1 or TTH learnt twice must be the same; the SHA-1 of an N2R source
// counts. Leading and trailing white space is ignored.
func Parse(s string) (Magnet, error) {
	var m Magnet
	s = strings.TrimSpace(s)
	if len(s) > MaxLen {
		return m, &Error{Reason: "longer than " + strconv.Itoa(MaxLen) + " bytes"}
	}
	if !textwire.HasPrefixFold(s, "magnet:") {
		return m, &Error{Reason: "not a magnet URI (no \"magnet:\" prefix)"}
	}
	rest := s[len("magnet:"):]
	if rest == "" || rest[0] != '?' {
		return m, &Error{Reason: "no '?' after \"magnet:\""}
	}
	if strings.IndexByte(rest, 0) >= 0 {
		return m, &Error{Reason: "NUL byte"}
	}
	var p parser
	for param := range strings.SplitSeq(rest[1:], "&") {
		eq := strings.IndexByte(param, '=')
		if eq <= 0 {
			continue // "&&", or no name: gtkg ignores it
		}
		k := lookupKey(param[:eq])
		if k == keyNone {
			continue
		}
		if err := p.value(&m, k, param[eq+1:]); err != nil {
			return Magnet{}, err
		}
	}
	return m, nil
}

type parser struct {
	nameSet bool
}

func (p *parser) value(m *Magnet, k key, raw string) error {
	name := keyNames[k]
	val, ok := textwire.Unescape(raw, true)
	if !ok {
		return &Error{Key: name, Value: raw, Reason: "bad percent escape"}
	}
	if !utf8.ValidString(val) {
		if k != keyDN {
			return &Error{Key: name, Value: val, Reason: "not UTF-8"}
		}
		// gtkg guesses the charset of a non-UTF-8 dn; we keep what reads.
		val = strings.ToValidUTF8(val, "\uFFFD")
	}
	if hasControl(val) {
		return &Error{Key: name, Value: val, Reason: "control character"}
	}
	bad := func(reason string) error { return &Error{Key: name, Value: val, Reason: reason} }
	switch k {
	case keyDN, keyKT, keyParqID, keyVendor, keyGUID:
		if len(val) > MaxValueLen {
			return bad("longer than " + strconv.Itoa(MaxValueLen) + " bytes")
		}
	}
	switch k {
	case keyDN:
		if !p.nameSet {
			m.Name, p.nameSet = val, true
		}
	case keyKT:
		if val == "" {
			return nil
		}
		if len(m.Keywords) == MaxKeywords {
			return bad("more than " + strconv.Itoa(MaxKeywords) + " keywords")
		}
		m.Keywords = append(m.Keywords, val)
	case keyParqID:
		m.ParqID = val
	case keyVendor:
		m.Vendor = val
	case keyGUID:
		m.GUID = val
	case keyDHT, keyG2:
		n, err := strconv.ParseUint(val, 10, 8)
		if err != nil || !textwire.IsDigits(val) {
			return bad("not a number from 0 to 255")
		}
		if k == keyDHT {
			m.DHT = n != 0
		} else {
			m.G2 = n != 0
		}
	case keyXL:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || !textwire.IsDigits(val) {
			return bad("not a length in bytes")
		}
		if m.Size != 0 && n != 0 && n != m.Size {
			return bad("conflicts with xl=" + strconv.FormatInt(m.Size, 10))
		}
		if n != 0 {
			m.Size = n
		}
	case keyXT:
		return p.topic(m, val)
	case keyXS, keyAS:
		src, ok, err := parseSource(val)
		if err != nil {
			return bad(err.Error())
		}
		if !ok {
			return nil // a scheme gtk-gnutella does not download from
		}
		if len(m.Sources) == MaxSources {
			return bad("more than " + strconv.Itoa(MaxSources) + " sources")
		}
		if !src.SHA1.IsZero() {
			if err := mergeSHA1(m, src.SHA1); err != nil {
				return bad(err.Error())
			}
		}
		if src.tth != nil {
			if err := mergeTTH(m, *src.tth); err != nil {
				return bad(err.Error())
			}
		}
		m.Sources = append(m.Sources, src.Source)
	}
	return nil
}

// topic reads an xt value. Namespaces other than sha1, bitprint and
// tree:tiger are ignored (a magnet may also carry urn:btih, urn:ed2k...).
func (p *parser) topic(m *Magnet, val string) error {
	u, ok, err := parseURN(val)
	if err != nil {
		return &Error{Key: "xt", Value: val, Reason: err.Error()}
	}
	if !ok {
		return nil
	}
	if u.hasSHA1 {
		if err := mergeSHA1(m, u.sha1); err != nil {
			return &Error{Key: "xt", Value: val, Reason: err.Error()}
		}
	}
	if u.hasTTH {
		if err := mergeTTH(m, u.tth); err != nil {
			return &Error{Key: "xt", Value: val, Reason: err.Error()}
		}
	}
	return nil
}

type reason string

func (r reason) Error() string { return string(r) }

func mergeSHA1(m *Magnet, s protocol.SHA1) error {
	if m.SHA1.IsZero() {
		m.SHA1 = s
		return nil
	}
	if m.SHA1 != s {
		return reason("conflicts with " + m.SHA1.URN())
	}
	return nil
}

func mergeTTH(m *Magnet, t protocol.TTH) error {
	if !m.HasTTH {
		m.TTH, m.HasTTH = t, true
		return nil
	}
	if m.TTH != t {
		return reason("conflicts with " + m.TTH.TreeURN())
	}
	return nil
}

// String writes the magnet as gtk-gnutella's magnet_to_string does: keys in
// the order dn, xl, xt, x.parq-id, x.vndr, x.guid, x.dht, x.g2, xs, kt;
// xt as urn:bitprint:<sha1>.<tth> when both are known; an N2R source in
// the same urn form as xt; values escaped with gtkg's query-string set
// (so '?' is %3F and a space %20). Unlike gtk-gnutella, a magnet with a
// TTH but no SHA-1 gets xt=urn:tree:tiger:<tth> rather than no xt.
func (m Magnet) String() string {
	return string(m.Append(make([]byte, 0, 128)))
}

// Append appends String's text to dst.
func (m Magnet) Append(dst []byte) []byte {
	first := true
	item := func(k string) {
		if first {
			dst = append(dst, "magnet:?"...)
			first = false
		} else {
			dst = append(dst, '&')
		}
		dst = append(dst, k...)
		dst = append(dst, '=')
	}
	if m.Name != "" {
		item("dn")
		dst = appendEscaped(dst, m.Name)
	}
	if m.Size > 0 {
		item("xl")
		dst = strconv.AppendInt(dst, m.Size, 10)
	}
	if !m.SHA1.IsZero() || m.HasTTH {
		item("xt")
		dst = m.appendURN(dst)
	}
	for _, kv := range [...]struct{ k, v string }{
		{"x.parq-id", m.ParqID}, {"x.vndr", m.Vendor}, {"x.guid", m.GUID},
	} {
		if kv.v != "" {
			item(kv.k)
			dst = appendEscaped(dst, kv.v)
		}
	}
	if m.DHT {
		item("x.dht")
		dst = append(dst, '1')
	}
	if m.G2 {
		item("x.g2")
		dst = append(dst, '1')
	}
	var scratch [256]byte
	buf := scratch[:0]
	for _, s := range m.Sources {
		item("xs")
		buf = s.appendURL(buf[:0], m)
		dst = appendEscaped(dst, buf)
	}
	for _, kw := range m.Keywords {
		item("kt")
		dst = appendEscaped(dst, kw)
	}
	if first {
		dst = append(dst, "magnet:?"...)
	}
	return dst
}

// appendURN writes the best urn the magnet knows: bitprint, sha1 or tree.
func (m Magnet) appendURN(dst []byte) []byte {
	switch {
	case !m.SHA1.IsZero() && m.HasTTH:
		return append(dst, protocol.BitprintURN(m.SHA1, m.TTH)...)
	case !m.SHA1.IsZero():
		return m.SHA1.AppendURN(dst)
	default:
		return append(dst, m.TTH.TreeURN()...)
	}
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
