package uhc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/servent/servent/internal/lines"
)

// GWebCache limits, as gtk-gnutella's ghc.c: at most 500 hosts read and
// lines of at most 256 bytes; the body is cut at MaxGWCBody.
const (
	MaxGWCHosts = 500
	MaxGWCLine  = 256
	MaxGWCBody  = 64 << 10
	// GWCClient is our vendor code in GWebCache requests.
	GWCClient = "SRVT"
)

// ErrGWC wraps what a web cache said was wrong (an "ERROR" answer, or an
// "I|update|WARNING" to an update).
var ErrGWC = errors.New("gwc: cache refused")

// GWCAnswer is what a web cache answered, parsed once.
type GWCAnswer struct {
	// Hosts from "H|ip:port|..." lines (GWebCache 2) or plain "ip:port"
	// lines (the old hostfile form), in order, without duplicates.
	Hosts []netip.AddrPort
	// Caches counts the "U|url|..." lines: other caches it knows. They
	// are not used: servent asks only the caches its user named.
	Caches int
	// Updated: an update was acknowledged ("I|update|OK", or "OK").
	Updated bool
	// Refused is the cache's own words when it refused the request
	// ("ERROR...", "I|update|WARNING|..."), as sent: make it safe before
	// it reaches a terminal.
	Refused string
}

// GWCGetURL is base with the plain-text get request of GWebCache 2:
// ?get=1&net=gnutella&client=SRVT&version=V. base must be http or https.
func GWCGetURL(base, version string) (string, error) {
	return gwcURL(base, version, func(q url.Values) { q.Set("get", "1") })
}

// GWCUpdateURL is base with the update request announcing self as a
// Gnutella host: ?update=1&ip=HOST:PORT&net=gnutella&client=SRVT&version=V.
func GWCUpdateURL(base string, self netip.AddrPort, version string) (string, error) {
	if !self.IsValid() || !self.Addr().Unmap().Is4() {
		return "", fmt.Errorf("gwc: update needs an IPv4 address, not %v", self)
	}
	return gwcURL(base, version, func(q url.Values) {
		q.Set("update", "1")
		q.Set("ip", netip.AddrPortFrom(self.Addr().Unmap(), self.Port()).String())
	})
}

// CheckGWC reports whether base can name a web cache.
func CheckGWC(base string) error {
	_, err := GWCGetURL(base, "0")
	return err
}

func gwcURL(base, version string, set func(url.Values)) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("gwc %q: %w", base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("gwc %q: want an http:// or https:// URL", base)
	}
	q := u.Query()
	set(q)
	q.Set("net", "gnutella")
	q.Set("client", GWCClient)
	q.Set("version", version)
	u.RawQuery = q.Encode()
	u.Fragment = ""
	return u.String(), nil
}

// ParseGWC reads a web cache's plain-text answer: GWebCache 2 lines
// ("H|ip:port|age", "U|url|age", "I|...", "i|..."), or the old hostfile
// form (one "ip:port" a line). Reading stops after MaxGWCBody bytes or
// MaxGWCHosts hosts; lines longer than MaxGWCLine and lines it does not
// understand are skipped. Only IPv4 hosts with a non-zero port are kept;
// whether they are worth dialling is the host cache's business.
func ParseGWC(r io.Reader) (GWCAnswer, error) {
	var a GWCAnswer
	seen := make(map[netip.AddrPort]bool)
	err := lines.Each(r, MaxGWCLine, MaxGWCBody, func(line []byte) bool {
		a.line(line, seen)
		return len(a.Hosts) < MaxGWCHosts
	})
	if err != nil && !errors.Is(err, lines.ErrTooLarge) { // a long body is cut, not refused
		return a, fmt.Errorf("gwc answer: %w", err)
	}
	return a, nil
}

// line takes one answer line.
func (a *GWCAnswer) line(b []byte, seen map[netip.AddrPort]bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return
	}
	s := string(b)
	f := strings.Split(s, "|")
	switch {
	case len(f) >= 2 && (f[0] == "H" || f[0] == "h"):
		a.host(f[1], seen)
	case len(f) >= 2 && (f[0] == "U" || f[0] == "u"):
		a.Caches++
	case len(f) >= 3 && (f[0] == "I" || f[0] == "i") && strings.EqualFold(f[1], "update"):
		if strings.EqualFold(f[2], "OK") {
			a.Updated = true
		} else if a.Refused == "" {
			a.Refused = s
		}
	case len(f) >= 2 && (f[0] == "I" || f[0] == "i"):
		// information lines ("I|pong|...", "I|access|period|..."): nothing to do
	case strings.HasPrefix(strings.ToUpper(s), "ERROR"):
		if a.Refused == "" {
			a.Refused = s
		}
	case s == "OK":
		a.Updated = true
	case len(f) == 1:
		a.host(s, seen)
	}
}

func (a *GWCAnswer) host(s string, seen map[netip.AddrPort]bool) {
	h, err := netip.ParseAddrPort(strings.TrimSpace(s))
	if err != nil {
		return
	}
	h = unmap(h)
	if !h.Addr().Is4() || h.Port() == 0 || h.Addr().IsUnspecified() || seen[h] {
		return
	}
	seen[h] = true
	a.Hosts = append(a.Hosts, h)
}

// GWCHTTPClient is an HTTP client for web caches: requests time out, no
// connection is kept (a cache is asked once an hour at most), and a
// redirect is followed only on the same host: servent talks to the caches
// its user named, not to those they point to.
func GWCHTTPClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableKeepAlives = true
	return &http.Client{
		Timeout:   timeout,
		Transport: t,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 || req.URL.Host != via[0].URL.Host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// FetchGWC makes one request (a URL from GWCGetURL or GWCUpdateURL)
// and parses the answer. A status other than 200, or a refusal in the
// body, is an error wrapping ErrGWC for the latter; the hosts read are
// returned with it.
func FetchGWC(ctx context.Context, hc *http.Client, reqURL, userAgent string) (GWCAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reqURL, nil)
	if err != nil {
		return GWCAnswer{}, fmt.Errorf("gwc: %w", err)
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := hc.Do(req)
	if err != nil {
		return GWCAnswer{}, fmt.Errorf("gwc: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return GWCAnswer{}, fmt.Errorf("gwc: %s answered %s", req.URL.Host, resp.Status)
	}
	a, err := ParseGWC(resp.Body)
	if err == nil && a.Refused != "" {
		err = fmt.Errorf("%w: %q", ErrGWC, a.Refused)
	}
	return a, err
}
