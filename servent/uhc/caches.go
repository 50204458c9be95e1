package uhc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/servent/servent/internal/lines"
)

// CachesFile is the name of the saved cache list, beside hosts.txt.
const CachesFile = "caches.txt"

// caches.txt limits: far above what a user names, so only a damaged or
// foreign file reaches them.
const (
	MaxCaches     = 256
	maxCachesFile = 256 << 10
	maxCacheLine  = 1024
)

// EncodeCaches is the caches.txt content: one cache a line,
// "uhc|gwc NAME last-answer-unix failures" (last-answer 0: never).
func EncodeCaches(cs []Cache) []byte {
	var buf bytes.Buffer
	buf.WriteString("# servent host caches: kind name last-answer-unix failures\n")
	for _, c := range cs {
		if CheckName(c.Kind, c.Name) != nil {
			continue
		}
		var at int64
		if !c.LastAnswer.IsZero() {
			at = c.LastAnswer.Unix()
		}
		fmt.Fprintf(&buf, "%s %s %d %d\n", c.Kind, c.Name, at, c.Failures)
	}
	return buf.Bytes()
}

// ReadCaches reads caches.txt content. A line that does not parse, or is
// longer than any we write, is skipped; reading stops after MaxCaches
// caches, and with an error past maxCachesFile bytes (keeping what was
// read).
func ReadCaches(r io.Reader) ([]Cache, error) {
	var out []Cache
	err := lines.Each(r, maxCacheLine, maxCachesFile, func(line []byte) bool {
		if c, ok := parseCacheLine(string(line)); ok {
			out = append(out, c)
		}
		return len(out) < MaxCaches
	})
	if errors.Is(err, lines.ErrTooLarge) {
		return out, fmt.Errorf("caches: larger than %d bytes, only its start was read", maxCachesFile)
	}
	if err != nil {
		return out, fmt.Errorf("caches: %w", err)
	}
	return out, nil
}

func parseCacheLine(line string) (Cache, bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return Cache{}, false
	}
	fs := strings.Fields(line)
	if len(fs) != 4 {
		return Cache{}, false
	}
	var k Kind
	switch fs[0] {
	case "uhc":
		k = UDP
	case "gwc":
		k = Web
	default:
		return Cache{}, false
	}
	at, err1 := strconv.ParseInt(fs[2], 10, 64)
	fails, err2 := strconv.Atoi(fs[3])
	if err1 != nil || err2 != nil || fails < 0 || at < 0 || CheckName(k, fs[1]) != nil {
		return Cache{}, false
	}
	c := Cache{Kind: k, Name: fs[1], Failures: min(fails, 30)}
	if at > 0 {
		c.LastAnswer = time.Unix(at, 0)
	}
	return c, true
}

// CheckName reports whether name can name a cache of kind k: HOST:PORT
// (IPv6 in brackets, port 1..65535) for UDP, an http(s) URL for Web; no
// spaces or control characters either way (it is saved one a line).
func CheckName(k Kind, name string) error {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("cache %q: empty, or with spaces or control characters", name)
	}
	switch k {
	case UDP:
		host, port, err := net.SplitHostPort(name)
		if err != nil {
			return fmt.Errorf("uhc %q: want HOST:PORT ([ADDR]:PORT for IPv6): %w", name, err)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 || host == "" {
			return fmt.Errorf("uhc %q: want HOST:PORT with a port from 1 to 65535", name)
		}
		return nil
	case Web:
		return CheckGWC(name)
	}
	return fmt.Errorf("cache %q: unknown kind", name)
}
