package transfer

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/servent/servent/protocol"
)

// maxGIVLine bounds "GIV <index>:<32 hex>/<name>": gtk-gnutella names are
// at most a few hundred bytes.
const maxGIVLine = 1024

// ReadGIVLine reads the GIV line and the blank line after it from br
// ("GIV <index>:<guid>/<name>\n\n"; CRLF accepted). The node calls it
// after peeking "GIV " and passes the line to Manager.HandleGIV.
func ReadGIVLine(br *bufio.Reader) (string, error) {
	lr := &lineReader{br: br, budget: maxGIVLine + 2}
	l, err := lr.line()
	if err != nil {
		return "", fmt.Errorf("giv: %w", err)
	}
	// The blank line; some servents send only one "\n": do not insist.
	if b, err := br.Peek(1); err == nil && (b[0] == '\n' || b[0] == '\r') {
		if _, err := lr.line(); err != nil {
			return "", fmt.Errorf("giv: %w", err)
		}
	}
	return l, nil
}

// ParseGIV reads "GIV <index>:<servent guid hex>/<name>". The name is
// returned but must not be trusted (gtk-gnutella sends "file").
func ParseGIV(line string) (index uint32, guid protocol.GUID, name string, err error) {
	rest, ok := strings.CutPrefix(line, "GIV ")
	if !ok {
		return 0, guid, "", fmt.Errorf("%w: not a GIV line: %.40q", ErrMalformed, line)
	}
	idx, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, guid, "", fmt.Errorf("%w: GIV without ':': %.60q", ErrMalformed, line)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(idx), 10, 32)
	if err != nil {
		return 0, guid, "", fmt.Errorf("%w: GIV index %.20q", ErrMalformed, idx)
	}
	hexGUID, name, _ := strings.Cut(rest, "/")
	guid, err = protocol.ParseGUID(strings.TrimSpace(hexGUID))
	if err != nil {
		return 0, guid, "", fmt.Errorf("giv: %w", err)
	}
	return uint32(n), guid, name, nil
}

// AppendGIV appends the GIV line and its blank line.
func AppendGIV(dst []byte, index uint32, guid protocol.GUID, name string) []byte {
	dst = append(dst, "GIV "...)
	dst = strconv.AppendUint(dst, uint64(index), 10)
	dst = append(dst, ':')
	dst = append(dst, guid.String()...)
	dst = append(dst, '/')
	dst = append(dst, strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, name)...)
	return append(dst, "\n\n"...)
}

// ServeGIV answers a Push as the firewalled server: connect to addr (the
// requester from the Push), send GIV for index with our servent GUID, then
// serve the HTTP requests the requester sends on that connection. dial is
// the node's dialer ("tcp", addr). It returns when the connection ends.
func ServeGIV(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error),
	addr string, index uint32, guid protocol.GUID, name string, up *Uploader) error {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("giv: dial %s: %w", addr, err)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(up.cfg.StallTimeout))
	if _, err := conn.Write(AppendGIV(nil, index, guid, name)); err != nil {
		conn.Close()
		return fmt.Errorf("giv: write: %w", err)
	}
	up.ServeConn(ctx, conn, bufio.NewReader(conn))
	return nil
}
