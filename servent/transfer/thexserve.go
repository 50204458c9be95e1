package transfer

import (
	"strconv"
	"strings"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"
)

// Serving Tiger trees (GNUTELLA-TRANSFERS.md 23.3-23.5): responses for a
// file whose tree is known carry "X-Thex-URI: /uri-res/N2X?urn:sha1:X;ROOT"
// (once per connection, and again after a 503, as gtk-gnutella), and
// "GET /uri-res/N2X?urn:sha1:X[;ROOT]" answers the tree as gtk-gnutella
// does: a DIME message of the THEX XML and the breadth-first nodes down to
// thex.GoodDepth, with Content-Length, never compressed. A tree is small
// (at most 4095 nodes): it needs no upload slot.

// uriRes splits a "/uri-res/<service>?<urn>" target.
func uriRes(target string) (svc, urn string, ok bool) {
	rest, ok := strings.CutPrefix(target, "/uri-res/")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "?")
}

// isN2X reports whether target asks for a tree.
func isN2X(target string) bool {
	svc, _, ok := uriRes(target)
	return ok && strings.EqualFold(svc, "N2X")
}

// appendThexURI appends X-Thex-URI when f's tree is known.
func (c *upConn) appendThexURI(b []byte, f File) []byte {
	if c.thexOut || c.u.cfg.Trees == nil || f.SHA1.IsZero() {
		return b
	}
	t, ok := c.u.cfg.Trees(f.SHA1)
	if !ok {
		return b
	}
	c.thexOut = true
	b = append(b, "X-Thex-URI: /uri-res/N2X?"...)
	b = f.SHA1.AppendURN(b)
	b = append(b, ';')
	b = append(b, t.Root().Base32()...)
	return append(b, "\r\n"...)
}

// serveTree answers GET or HEAD /uri-res/N2X?urn:sha1:X[;ROOT].
func (c *upConn) serveTree(req *request) bool {
	keep := req.keepAlive()
	_, urn, _ := strings.Cut(req.target, "?")
	urn, root, hasRoot := strings.Cut(urn, ";")
	sha, err := protocol.ParseSHA1URN(urn)
	if err != nil {
		return c.writeStatus(400, "Malformed URN in /uri-res/N2X request", keep) && keep
	}
	f, found := c.u.cfg.Files.BySHA1(sha)
	if !found || f.SHA1 != sha {
		p, partial := c.sharedPartial(sha)
		if !partial {
			return c.writeStatus(404, "Not Found", keep) && keep
		}
		f = File{Name: p.Name, Size: p.Size, SHA1: p.SHA1, ModTime: p.ModTime}
	}
	var t *thex.Tree
	if c.u.cfg.Trees != nil {
		t, found = c.u.cfg.Trees(sha)
	}
	if t == nil || !found {
		return c.writeStatus(503, "TTH is being computed", keep) && keep
	}
	if hasRoot && !strings.EqualFold(root, t.Root().Base32()) {
		return c.writeStatus(404, "Tiger tree root mismatch", keep) && keep
	}
	body := thex.AppendMessage(nil, t)
	b := c.startResponse(200, "OK", keep)
	b = append(b, "Content-Type: application/dime\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	b = c.fileHeaders(b, f)
	b = append(b, "\r\n"...)
	if req.method != "HEAD" {
		b = append(b, body...)
	}
	return c.write(b) && keep
}
