package httphdr

import (
	"net/netip"
	"strings"

	"github.com/servent/servent/protocol/internal/textwire"
)

// Alt is one X-Alt or X-Nalt entry: a source of the file (X-Alt) or one
// that failed (X-Nalt).
type Alt struct {
	Addr netip.AddrPort
	TLS  bool // marked in the leading tls=<hex> bitmap
}

// ParseAlt reads an X-Alt or X-Nalt value (gtkg dmesh_parse_addr_port_list):
// "ip[:port]" items separated by ',' (gtkg also takes ';'), blanks allowed;
// port 6346 when left out; "[ipv6]:port", or a bare IPv6 address for port
// 6346. A leading "tls=<hex>" item marks the TLS-capable entries, the most
// significant bit of the first hex digit for the first entry ("tls=8, a, b":
// a only). Bad items, the unspecified address and port 0 are skipped;
// an address listed twice is kept once. At most limit entries are returned
// (MaxItems when limit <= 0 or above it). The only error is ErrTooLong.
func ParseAlt(value string, limit int) ([]Alt, error) {
	if err := checkLen("X-Alt", value); err != nil {
		return nil, err
	}
	limit = limitOf(limit)
	out := make([]Alt, 0, min(limit, 1+strings.Count(value, ",")+strings.Count(value, ";")))
	var tls hexBitmap
	first, pos := true, 0
	splitItems(value, ",;", func(item string) bool {
		if textwire.HasPrefixFold(item, "tls=") {
			if first {
				if h := hexBitmap(item[len("tls="):]); h.valid() {
					tls = h
				}
			}
			first = false
			return true // a later tls= is not an address: skipped, as gtkg
		}
		first = false
		i := pos
		pos++
		ap, ok := parseAddrPort(item, GnutellaPort)
		if !ok {
			return true
		}
		for _, a := range out {
			if a.Addr == ap {
				return true
			}
		}
		out = append(out, Alt{Addr: ap, TLS: tls.bit(i)})
		return len(out) < limit
	})
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// AppendAlt writes alts as gtkg writes X-Alt (dmesh_entry_compact): items
// separated by ", ", the port left out when it is 6346 (an IPv6 address is
// then bare, else in brackets), preceded by "tls=<hex>, " when an entry is
// TLS-capable (gtkg sends "tls=8" for itself as a partial source). Entries
// with an invalid address or port 0 are left out.
func AppendAlt(dst []byte, alts []Alt) []byte {
	return appendAlts(dst, alts, true)
}

// AppendNalt writes alts as gtkg writes X-Nalt: always with the port, no
// tls= bitmap.
func AppendNalt(dst []byte, alts []Alt) []byte {
	return appendAlts(dst, alts, false)
}

// FormatAlt is AppendAlt as a string.
func FormatAlt(alts []Alt) string { return string(AppendAlt(nil, alts)) }

// FormatNalt is AppendNalt as a string.
func FormatNalt(alts []Alt) string { return string(AppendNalt(nil, alts)) }

func writable(ap netip.AddrPort) bool { return ap.Addr().IsValid() && ap.Port() != 0 }

func appendAlts(dst []byte, alts []Alt, compact bool) []byte {
	if compact {
		var valid [MaxItems]bool // TLS of the written entries, by position
		n, anyTLS := 0, false
		for _, a := range alts {
			if writable(a.Addr) {
				if n < len(valid) {
					valid[n] = a.TLS
				}
				anyTLS = anyTLS || a.TLS
				n++
			}
		}
		if anyTLS {
			dst = append(dst, "tls="...)
			dst = appendHexBitmap(dst, min(n, len(valid)), func(i int) bool { return valid[i] })
			dst = append(dst, ", "...)
		}
	}
	sep := false
	for _, a := range alts {
		if !writable(a.Addr) {
			continue
		}
		if sep {
			dst = append(dst, ", "...)
		}
		sep = true
		ip := a.Addr.Addr().Unmap()
		if compact && a.Addr.Port() == GnutellaPort {
			dst = ip.AppendTo(dst)
		} else {
			dst = appendAddrPort(dst, netip.AddrPortFrom(ip, a.Addr.Port()))
		}
	}
	return dst
}
