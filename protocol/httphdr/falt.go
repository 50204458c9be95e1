package httphdr

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"

	"github.com/servent/servent/protocol/internal/textwire"
)

// Falt is one X-Falt entry: a firewalled source, reached by a push through
// one of its proxies.
type Falt struct {
	GUID    [16]byte       // the servent's GUID
	FWT     bool           // "fwt/1": it can do firewall-to-firewall transfers
	Addr    netip.AddrPort // its own address, written port first; zero when absent
	Proxies []Alt          // its push proxies; TLS from the pptls=<hex> bitmap
}

// ParseFalt reads an X-Falt value (gtkg dmesh_collect_fw_host): entries
// separated by ',', each "<GUID>;[fwt/1;][port:ip;][pptls=<hex>;]ip:port;..."
// with the GUID as 32 hex digits (not base32), the host's own address port
// first, then its push proxies. Other "word/x.y" options and unreadable
// tokens (gtkg persists an ISO date at the end) are skipped; an entry
// without a GUID is skipped. At most MaxProxies proxies are kept per entry,
// repeated ones once, and at most limit entries (MaxItems when limit <= 0
// or above it), one per GUID. The only error is ErrTooLong.
//
// gtk-gnutella reads X-Falt only from servers' responses, never from
// downloaders' requests (interop 58).
func ParseFalt(value string, limit int) ([]Falt, error) {
	if err := checkLen("X-Falt", value); err != nil {
		return nil, err
	}
	limit = limitOf(limit)
	var out []Falt
	splitItems(value, ",", func(item string) bool {
		f, ok := parseFaltEntry(item)
		if !ok {
			return true
		}
		for _, g := range out {
			if g.GUID == f.GUID {
				return true
			}
		}
		out = append(out, f)
		return len(out) < limit
	})
	return out, nil
}

func parseFaltEntry(item string) (f Falt, ok bool) {
	var pptls hexBitmap
	seenGUID, seenPPTLS, seenAddr, seenProxy := false, false, false, false
	proxy := 0 // index of the next push proxy, for the pptls= bitmap
	splitItems(item, ";", func(tok string) bool {
		switch {
		case !seenGUID:
			if !textwire.DecodeHex(f.GUID[:], tok) {
				return false
			}
			seenGUID = true
		case strings.IndexByte(tok, '/') >= 0:
			if textwire.HasPrefixFold(tok, "fwt/") {
				f.FWT = true
			}
		case !seenPPTLS && textwire.HasPrefixFold(tok, "pptls="):
			seenPPTLS = true
			if h := hexBitmap(tok[len("pptls="):]); h.valid() {
				pptls = h
			}
		case !seenProxy && !seenAddr && isPortHost(tok):
			if ap, ok := parsePortHost(tok); ok {
				f.Addr, seenAddr = ap, true
			}
		default:
			ap, ok := parseAddrPort(tok, 0)
			if !ok {
				return true
			}
			seenProxy = true
			i := proxy
			proxy++
			if len(f.Proxies) == MaxProxies {
				return true
			}
			for _, p := range f.Proxies {
				if p.Addr == ap {
					return true
				}
			}
			f.Proxies = append(f.Proxies, Alt{Addr: ap, TLS: pptls.bit(i)})
		}
		return true
	})
	return f, seenGUID
}

// isPortHost tells "port:ip" from "ip:port": digits, then ':' (an IPv4
// address has a '.' after its first digits, an IPv6 one is in brackets).
func isPortHost(tok string) bool {
	i := 0
	for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
		i++
	}
	return i > 0 && i < len(tok) && tok[i] == ':'
}

// parsePortHost reads "port:ip", "port:[ipv6]" or "port:ipv6".
func parsePortHost(tok string) (netip.AddrPort, bool) {
	ps, host, _ := strings.Cut(tok, ":")
	port, ok := parsePort(ps)
	if !ok {
		return netip.AddrPort{}, false
	}
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
		if strings.IndexByte(host, ':') < 0 {
			return netip.AddrPort{}, false
		}
	}
	a, ok := parseIP(host)
	if !ok || a.IsUnspecified() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, port), true
}

// AppendFalt writes entries as gtkg's dmesh_fwalt_string does, separated
// by ", ": the GUID in lower-case hex, ";fwt/1" when FWT, ";port:ip" for a
// valid Addr, ";pptls=<hex>" when a proxy is TLS-capable (gtkg never sends
// fwt/1 or pptls=; LimeWire does), then ";ip:port" per proxy.
func AppendFalt(dst []byte, entries []Falt) []byte {
	for n, f := range entries {
		if n > 0 {
			dst = append(dst, ", "...)
		}
		dst = hex.AppendEncode(dst, f.GUID[:])
		if f.FWT {
			dst = append(dst, ";fwt/1"...)
		}
		if writable(f.Addr) {
			dst = append(dst, ';')
			dst = strconv.AppendUint(dst, uint64(f.Addr.Port()), 10)
			dst = append(dst, ':')
			ip := f.Addr.Addr().Unmap()
			if ip.Is6() {
				dst = append(dst, '[')
				dst = ip.AppendTo(dst)
				dst = append(dst, ']')
			} else {
				dst = ip.AppendTo(dst)
			}
		}
		var tls [MaxProxies]bool
		n, anyTLS := 0, false
		for _, p := range f.Proxies {
			if writable(p.Addr) && n < MaxProxies {
				tls[n] = p.TLS
				anyTLS = anyTLS || p.TLS
				n++
			}
		}
		if anyTLS {
			dst = append(dst, ";pptls="...)
			dst = appendHexBitmap(dst, n, func(i int) bool { return tls[i] })
		}
		n = 0
		for _, p := range f.Proxies {
			if writable(p.Addr) && n < MaxProxies {
				dst = append(dst, ';')
				dst = appendAddrPort(dst, netip.AddrPortFrom(p.Addr.Addr().Unmap(), p.Addr.Port()))
				n++
			}
		}
	}
	return dst
}

// FormatFalt is AppendFalt as a string.
func FormatFalt(entries []Falt) string { return string(AppendFalt(nil, entries)) }
