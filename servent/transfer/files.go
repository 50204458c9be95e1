package transfer

import (
	"net/netip"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/sharedir"
)

// File is one shared file as the library indexes it. Path is never built
// from a request: the uploader opens only paths returned by Files.
type File = sharedir.File

// Files is the view of the shared files the Uploader serves from; a
// *sharedir.Library satisfies it. Only files returned here are ever opened.
type Files interface {
	ByIndex(index uint32) (File, bool)
	BySHA1(sha1 protocol.SHA1) (File, bool)
}

// Source is one host offering a file, from a QueryHit or an X-Alt header.
type Source struct {
	Addr        netip.AddrPort
	Index       uint32        // file index in the source's QueryHit (0 if unknown)
	Name        string        // file name in the source's QueryHit ("" if unknown)
	ServentGUID protocol.GUID // the source's servent GUID (needed for Push)
	Push        bool          // the source is firewalled: reach it by Push/GIV
	// Proxies are the source's push proxies (its hit's GGEP PUSH): the
	// Push goes to them over HTTP first (GNUTELLA-TRANSFERS.md 25.2).
	Proxies []netip.AddrPort
}

// key identifies a source within one download: a pushed source is known by
// its servent GUID (its address may be private), others by address.
func (s Source) key() string {
	if s.Push && !s.ServentGUID.IsZero() {
		return "push:" + s.ServentGUID.String()
	}
	return s.Addr.String()
}
