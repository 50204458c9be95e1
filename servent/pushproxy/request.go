// Package pushproxy is the HTTP push-proxy protocol (Push Proxy 0.1,
// GNUTELLA-TRANSFERS.md 25): an ultrapeer relays a downloader's HTTP
// request as a Push to its firewalled leaf. request.go reads and answers
// the request on the proxy's side; client.go sends it.
package pushproxy

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/servent/servent/internal/netscope"
	"github.com/servent/servent/protocol"
)

// Request is a push-proxy request, decoded.
type Request struct {
	GUID  protocol.GUID  // the firewalled servent to push
	Index uint32         // file index for the Push (file=, default 0)
	Node  netip.AddrPort // X-Node: where the pushed servent must connect
	TLS   bool           // tls=true: the Push carries GGEP TLS
}

// Answer is the status a proxy answers with; the body is always empty.
type Answer struct {
	Code   int
	Reason string
}

// Answers as gtk-gnutella words them (pproxy.c, captures 57 and 59).
var (
	Sent          = Answer{202, "Push-proxy: message sent to node"}
	FoundUs       = Answer{202, "Push-proxy: you found the target GUID"}
	NotUnderstood = Answer{400, "Request not understood"}
	NoAddress     = Answer{400, "Malformed push-proxy request: supplied no valid address"}
	NotAllowed    = Answer{501, "Not Implemented"}
)

// SentVia is 203: the Push went on through Gnutella routes.
func SentVia(nodes int) Answer {
	return Answer{203, fmt.Sprintf("Push-proxy: message sent through Gnutella (via %d nodes)", nodes)}
}

// NoRoute is 410: no connection leads to guid.
func NoRoute(guid protocol.GUID) Answer {
	return Answer{410, "Push proxy: no route to servent GUID " + guid.String()}
}

// IsPath reports whether an HTTP request target is for the push proxy
// (also its unknown variants, which get 400 as from gtk-gnutella).
func IsPath(target string) bool {
	return strings.HasPrefix(target, "/gnutella/push") || strings.HasPrefix(target, "/gnet/push")
}

// Parse reads a push-proxy request: its method, request target and X-Node
// header value; requester is the address the request came from. The
// forms are gtk-gnutella's: /gnutella/push-proxy?ServerId=<base32> (or
// /gnutella/pushproxy?) and /gnet/push-proxy?guid=<hex>, with file= and
// tls=. A refusal comes back as the Answer to send.
func Parse(method, target, xNode string, requester netip.Addr) (Request, *Answer) {
	if method != "GET" && method != "HEAD" {
		return Request{}, &NotAllowed
	}
	path, rawQuery, _ := strings.Cut(target, "?")
	params, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Request{}, malformed("bad query string")
	}
	var r Request
	switch path {
	case "/gnutella/push-proxy", "/gnutella/pushproxy":
		// gtk-gnutella reads only "ServerId" and answers 400 to "ServerID"
		// (capture 59); some specs spell it ServerID, so we take both.
		name := "ServerId"
		id, ok := params[name]
		if !ok {
			name = "ServerID"
			id, ok = params[name]
		}
		if !ok || len(id) == 0 {
			return Request{}, malformed("no ServerId found")
		}
		v := strings.TrimRight(id[0], "=")
		if len(id[0]) != 26 && len(id[0]) != 32 {
			return Request{}, malformed(fmt.Sprintf("wrong length for parameter %q: %d bytes", name, len(id[0])))
		}
		b, err := guidBase32.DecodeString(strings.ToUpper(v))
		if err != nil || len(b) != len(r.GUID) {
			return Request{}, malformed(fmt.Sprintf("bad base32 in parameter %q", name))
		}
		r.GUID = protocol.GUID(b)
	case "/gnet/push-proxy":
		id := params.Get("guid")
		if len(id) != 2*len(r.GUID) {
			return Request{}, malformed(fmt.Sprintf("wrong length for parameter \"guid\": %d bytes", len(id)))
		}
		if _, err := hex.Decode(r.GUID[:], []byte(id)); err != nil {
			return Request{}, malformed("bad hex in parameter \"guid\"")
		}
	default:
		return Request{}, &NotUnderstood
	}
	if f := params.Get("file"); f != "" {
		index, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return Request{}, malformed("bad file index")
		}
		r.Index = uint32(index)
	}
	r.TLS = params.Get("tls") == "true"
	node, err := netip.ParseAddrPort(strings.TrimSpace(xNode))
	if err != nil || !netscope.Listable(node, requester) {
		return Request{}, &NoAddress
	}
	r.Node = netip.AddrPortFrom(node.Addr().Unmap(), node.Port())
	return r, nil
}

func malformed(why string) *Answer {
	return &Answer{400, "Malformed push-proxy request: " + why}
}

// WriteAnswer writes a as gtk-gnutella does: status line, empty body,
// Connection: close.
func WriteAnswer(w io.Writer, a Answer, server string) error {
	_, err := fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nServer: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", a.Code, a.Reason, server)
	return err
}
