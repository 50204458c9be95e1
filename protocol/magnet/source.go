package magnet

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/internal/textwire"
)

const n2rPrefix = "/uri-res/N2R?" // case-sensitive in gtkg (magnet_parse_path)

// String is the source's URL, with an N2R path in urn:sha1 form.
func (s Source) String() string { return string(s.appendURL(nil, Magnet{})) }

// RequestURI is what to ask the source for: "/uri-res/N2R?urn:sha1:..." for
// an N2R source, else its path ("/" when it has none).
func (s Source) RequestURI() string {
	switch {
	case !s.SHA1.IsZero():
		return n2rPrefix + s.SHA1.URN()
	case s.Path != "":
		return s.Path
	}
	return "/"
}

// FileIndex reads a path /get/<index>/<name>; name is percent-decoded when
// it decodes cleanly, else kept as written.
func (s Source) FileIndex() (index uint32, name string, ok bool) {
	rest, found := strings.CutPrefix(s.Path, "/get/")
	if !found {
		return 0, "", false
	}
	digits, name, found := strings.Cut(rest, "/")
	if !found || !textwire.IsDigits(digits) {
		return 0, "", false
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, "", false
	}
	if dec, ok := textwire.Unescape(name, false); ok {
		name = dec
	}
	return uint32(n), name, true
}

// appendURL writes the source as gtkg's magnet_source_to_string does: an
// address always with its port, a host name with its port unless 80, push
// proxies as ":ip:port" after the GUID (lower-case hex), and an N2R path in
// the magnet's urn form when the SHA-1 is the magnet's.
func (s Source) appendURL(dst []byte, m Magnet) []byte {
	if s.Push {
		dst = append(dst, "push://"...)
		dst = hex.AppendEncode(dst, s.GUID[:])
		for _, p := range s.Proxies {
			dst = append(dst, ':')
			dst = p.AppendTo(dst)
		}
	} else {
		dst = append(dst, "http://"...)
		if s.Addr.IsValid() {
			dst = netip.AddrPortFrom(s.Addr, s.Port).AppendTo(dst)
		} else {
			dst = append(dst, s.Host...)
			if s.Port != HTTPPort {
				dst = append(dst, ':')
				dst = strconv.AppendUint(dst, uint64(s.Port), 10)
			}
		}
	}
	switch {
	case !s.SHA1.IsZero():
		dst = append(dst, n2rPrefix...)
		if s.SHA1 == m.SHA1 {
			return m.appendURN(dst)
		}
		return s.SHA1.AppendURN(dst)
	case s.Path != "":
		return append(dst, s.Path...)
	}
	return append(dst, '/')
}

type parsedSource struct {
	Source
	tth *protocol.TTH // from an N2R urn:bitprint
}

// parseSource reads an xs or as value. ok is false for a scheme other than
// http:// and push:// (gtkg skips those too).
func parseSource(v string) (src parsedSource, ok bool, err error) {
	switch {
	case textwire.HasPrefixFold(v, "http://"):
		addr, host, port, rest, err := parseHostPort(v[len("http://"):], true)
		if err != nil {
			return src, false, err
		}
		src.Addr, src.Host, src.Port = addr, host, port
		err = src.parsePath(rest)
		return src, err == nil, err
	case textwire.HasPrefixFold(v, "push://"):
		rest := v[len("push://"):]
		if len(rest) < 32 || !textwire.DecodeHex(src.GUID[:], rest[:32]) {
			return src, false, reason("bad GUID in push source (want 32 hex digits)")
		}
		src.Push = true
		rest = rest[32:]
		if rest == "" || (rest[0] != ':' && rest[0] != '/') {
			return src, false, reason("expected ':' or '/' after the GUID")
		}
		for rest != "" && rest[0] == ':' {
			if len(src.Proxies) == MaxProxies {
				return src, false, reason("more than " + strconv.Itoa(MaxProxies) + " push proxies")
			}
			addr, _, port, r, err := parseHostPort(rest[1:], false)
			if err != nil {
				return src, false, err
			}
			src.Proxies = append(src.Proxies, netip.AddrPortFrom(addr, port))
			rest = r
		}
		err = src.parsePath(rest)
		return src, err == nil, err
	}
	return src, false, nil
}

func (src *parsedSource) parsePath(path string) error {
	if path == "" || path[0] != '/' {
		return reason("expected a path starting with '/'")
	}
	urn, found := strings.CutPrefix(path, n2rPrefix)
	if !found {
		src.Path = path
		return nil
	}
	u, ok, err := parseURN(urn)
	if err != nil {
		return err
	}
	if !ok || !u.hasSHA1 {
		return reason("N2R path without a urn:sha1 or urn:bitprint")
	}
	src.SHA1 = u.sha1
	if u.hasTTH {
		src.tth = &u.tth
	}
	return nil
}

// parseHostPort reads host[:port] at the start of s: an IPv4 address, an
// IPv6 address in brackets or (allowName) a host name of letters, digits,
// '.' and '-'. The port defaults to HTTPPort.
func parseHostPort(s string, allowName bool) (addr netip.Addr, name string, port uint16, rest string, err error) {
	if s != "" && s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return addr, "", 0, "", reason("no ']' after an IPv6 address")
		}
		a, perr := netip.ParseAddr(s[1:end])
		if perr != nil || !a.Is6() || a.Zone() != "" {
			return addr, "", 0, "", reason("bad IPv6 address")
		}
		addr, rest = a.Unmap(), s[end+1:]
	} else {
		n := 0
		for n < len(s) && isHostChar(s[n]) {
			n++
		}
		tok := s[:n]
		rest = s[n:]
		if a, ok := textwire.ParseIPv4(tok); ok {
			addr = a
		} else if !allowName {
			return addr, "", 0, "", reason("not an IP address")
		} else if tok == "" {
			return addr, "", 0, "", reason("expected a host")
		} else if len(tok) > MaxHostLen {
			return addr, "", 0, "", reason("host name longer than " + strconv.Itoa(MaxHostLen) + " bytes")
		} else {
			name = tok
		}
	}
	port = HTTPPort
	if rest != "" && rest[0] == ':' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		p, perr := strconv.ParseUint(rest[1:n], 10, 16)
		if perr != nil || p == 0 {
			return addr, "", 0, "", reason("bad port")
		}
		port, rest = uint16(p), rest[n:]
	}
	return addr, name, port, rest, nil
}

func isHostChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-'
}

type urnValue struct {
	sha1    protocol.SHA1
	tth     protocol.TTH
	hasSHA1 bool
	hasTTH  bool
}

// parseURN reads urn:sha1:, urn:bitprint: and urn:tree:tiger[/]: urns, the
// hashes in base32 (one spelling per root, as protocol reads them) or, as
// gtkg also accepts, hex (a bitprint's both halves). ok is false for other
// namespaces.
func parseURN(v string) (u urnValue, ok bool, err error) {
	switch {
	case textwire.HasPrefixFold(v, "urn:sha1:"):
		if !decodeSHA1(&u.sha1, v[len("urn:sha1:"):]) {
			return u, false, reason("not a SHA-1 urn")
		}
		u.hasSHA1 = true
	case textwire.HasPrefixFold(v, "urn:bitprint:"):
		if !decodeBitprint(&u, v) {
			return u, false, reason("not a bitprint urn (urn:bitprint:<32 base32>.<39 base32>)")
		}
		u.hasSHA1, u.hasTTH = true, true
	case textwire.HasPrefixFold(v, "urn:tree:tiger"):
		// urn:tree:tiger: or urn:tree:tiger/: (not urn:tree:tiger/1024:)
		tth, err := protocol.ParseTTHURN(v)
		if err != nil {
			return u, false, reason("not a TTH urn (urn:tree:tiger:<39 base32>)")
		}
		u.tth, u.hasTTH = tth, true
	default:
		return u, false, nil
	}
	return u, true, nil
}

func decodeSHA1(dst *protocol.SHA1, s string) bool {
	ok := false
	switch len(s) {
	case 32:
		sha, err := protocol.ParseSHA1Base32(s)
		*dst, ok = sha, err == nil
	case 40:
		ok = textwire.DecodeHex(dst[:], s)
	}
	return ok && !dst.IsZero() // zero means "no SHA-1" in Magnet and Source
}

// decodeBitprint reads v, an urn:bitprint: of <32 base32>.<39 base32> or
// of <40 hex>.<48 hex>, into u.sha1 and u.tth.
func decodeBitprint(u *urnValue, v string) bool {
	sha, tth, found := strings.Cut(v[len("urn:bitprint:"):], ".")
	if found && len(sha) == 40 {
		return decodeSHA1(&u.sha1, sha) && len(tth) == 48 && textwire.DecodeHex(u.tth[:], tth)
	}
	s, t, err := protocol.ParseBitprintURN(v)
	u.sha1, u.tth = s, t
	return err == nil && !s.IsZero() // zero means "no SHA-1", as in decodeSHA1
}
