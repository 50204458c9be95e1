package httphdr

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/internal/textwire"
)

// AltLocation is one URL of the old alternate-location headers
// (X-Gnutella-Alternate-Location, Alt-Location, Alternate-Location).
type AltLocation struct {
	Addr  netip.AddrPort
	SHA1  protocol.SHA1 // a /uri-res/N2R?urn:sha1: (or urn:bitprint:) URL; zero for /get/
	Index uint32        // a /get/<index>/<name> URL
	Name  string        // its name, percent-decoded
}

// ParseAltLocations reads the old alternate-location headers, which gtkg
// still parses (dmesh_collect_locations) but never sends: URLs
// "http://ip[:port]/uri-res/N2R?urn:sha1:..." or "http://ip[:port]/get/<i>/<name>",
// each optionally followed by a date, separated by ','. A URL may be in
// quotes; one ends at a blank, a quote, or a ',' followed by a blank or by
// the next "http://" (a ',' may sit unescaped inside a URL). Dates are not
// read. The port defaults to 80 (gtkg http_url_parse); URLs with a host
// name (gtkg would resolve it), with another path, or with
// /get/4294967295/ (gtkg's mark for URN URLs) are skipped, as are
// repeated ones. At most limit locations are returned (MaxItems when
// limit <= 0 or above it). The caller checks that a SHA1 is the file's. The
// only error is ErrTooLong.
func ParseAltLocations(value string, limit int) ([]AltLocation, error) {
	if err := checkLen("Alternate-Location", value); err != nil {
		return nil, err
	}
	limit = limitOf(limit)
	var out []AltLocation
	for rest := value; len(out) < limit; {
		i := indexFold(rest, "http://")
		if i < 0 {
			break
		}
		rest = rest[i+len("http://"):]
		end := urlEnd(rest)
		loc, ok := parseAltURL(rest[:end])
		rest = rest[end:]
		if !ok || containsLoc(out, loc) {
			continue
		}
		out = append(out, loc)
	}
	return out, nil
}

func containsLoc(locs []AltLocation, l AltLocation) bool {
	for _, o := range locs {
		if o == l {
			return true
		}
	}
	return false
}

// urlEnd finds where the URL at the start of s ends.
func urlEnd(s string) int {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isSpace(c) || c == '"':
			return i
		case c == ',':
			if rest := s[i+1:]; rest == "" || isSpace(rest[0]) || textwire.HasPrefixFold(rest, "http://") {
				return i
			}
		}
	}
	return len(s)
}

func parseAltURL(u string) (AltLocation, bool) {
	var loc AltLocation
	slash := strings.IndexByte(u, '/')
	if slash < 0 {
		return loc, false
	}
	ap, ok := parseAddrPort(u[:slash], 80)
	if !ok || strings.Count(u[:slash], ":") > 1 && u[0] != '[' {
		return loc, false // a host name, or an IPv6 address outside brackets
	}
	loc.Addr = ap
	path := u[slash:]
	if urn, ok := strings.CutPrefix(path, "/uri-res/N2R?"); ok {
		sha, err := protocol.ParseSHA1URN(urn)
		if err != nil || sha.IsZero() {
			return loc, false
		}
		loc.SHA1 = sha
		return loc, true
	}
	rest, ok := strings.CutPrefix(path, "/get/")
	if !ok {
		return loc, false
	}
	digits, name, ok := strings.Cut(rest, "/")
	if !ok || digits == "" || digits[0] < '0' || digits[0] > '9' {
		return loc, false
	}
	idx, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || idx == 1<<32-1 {
		return loc, false
	}
	name, ok = textwire.Unescape(name, false)
	if !ok || name == "" {
		return loc, false
	}
	loc.Index, loc.Name = uint32(idx), name
	return loc, true
}

// indexFold is strings.Index ignoring ASCII case, for an ASCII needle.
func indexFold(s, needle string) int {
	for i := 0; i+len(needle) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}
