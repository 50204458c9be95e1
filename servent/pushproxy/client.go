package pushproxy

import (
	"bufio"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/servent/servent/internal/termsafe"
	"github.com/servent/servent/protocol"
)

// Dialer opens a TCP connection; the node passes its own (bound to our
// listening IP).
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// ClientTimeout bounds one push-proxy request, dial included.
const ClientTimeout = 10 * time.Second

// maxAnswerLine bounds the status line we read from a proxy.
const maxAnswerLine = 1024

// guidBase32 is how ServerId spells a servent GUID: RFC 4648 base32,
// unpadded (26 characters), as gtk-gnutella and LimeWire send it.
var guidBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrRefused wraps a proxy's answer other than 202 or 203.
var ErrRefused = errors.New("push proxy refused")

// RequestLine is the request target asking a proxy to push index of the
// servent guid (GNUTELLA-TRANSFERS.md 25.2).
func RequestLine(guid protocol.GUID, index uint32) string {
	return "/gnutella/push-proxy?ServerId=" + guidBase32.EncodeToString(guid[:]) + "&file=" + strconv.FormatUint(uint64(index), 10)
}

// Push asks proxy to send a Push for index to the servent guid, telling
// it to connect to self. It returns nil when the proxy answers 202 or 203
// (sent to the node, or through Gnutella); otherwise an error in words.
func Push(ctx context.Context, dial Dialer, proxy netip.AddrPort, guid protocol.GUID, index uint32, self netip.AddrPort, userAgent string) error {
	ctx, cancel := context.WithTimeout(ctx, ClientTimeout)
	defer cancel()
	nc, err := dial(ctx, "tcp", proxy.String())
	if err != nil {
		return fmt.Errorf("push proxy %s: %w", proxy, err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	req := "GET " + RequestLine(guid, index) + " HTTP/1.1\r\n" +
		"Host: " + proxy.String() + "\r\n" +
		"User-Agent: " + userAgent + "\r\n" +
		"X-Node: " + self.String() + "\r\n" +
		"Connection: close\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return fmt.Errorf("push proxy %s: write: %w", proxy, err)
	}
	code, reason, err := ReadAnswer(bufio.NewReaderSize(nc, maxAnswerLine))
	if err != nil {
		return fmt.Errorf("push proxy %s: %w", proxy, err)
	}
	if code != 202 && code != 203 {
		return fmt.Errorf("push proxy %s: %w: %d %s", proxy, ErrRefused, code, reason)
	}
	return nil
}

// ReadAnswer reads a proxy's status line ("HTTP/1.1 202 Push-proxy: ...")
// within maxAnswerLine bytes; the reason comes back safe for a terminal.
func ReadAnswer(br *bufio.Reader) (code int, reason string, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, "", errors.New("status line too long")
		}
		return 0, "", fmt.Errorf("read status: %w", err)
	}
	s := strings.TrimRight(string(line), "\r\n")
	proto, rest, ok := strings.Cut(s, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") {
		return 0, "", fmt.Errorf("not an HTTP answer: %q", termsafe.String(s[:min(len(s), 64)]))
	}
	num, reason, _ := strings.Cut(rest, " ")
	code, err = strconv.Atoi(num)
	if err != nil || len(num) != 3 || code < 100 {
		return 0, "", fmt.Errorf("bad status code %q", termsafe.String(num[:min(len(num), 16)]))
	}
	return code, termsafe.String(reason), nil
}
