package transfer

import (
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
)

// File is one shared file as the uploader needs it. Its fields mirror
// sharedir.File so that the library can be adapted in one line.
type File struct {
	Index   uint32
	Path    string // absolute path of the shared file; never built from a request
	Name    string
	Size    int64
	ModTime time.Time
	SHA1    protocol.SHA1 // zero until hashed: not served by urn then
}

// Files is the view of the shared files the Uploader serves from. Only
// files returned here are ever opened.
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
}

// key identifies a source within one download: a pushed source is known by
// its servent GUID (its address may be private), others by address.
func (s Source) key() string {
	if s.Push && !s.ServentGUID.IsZero() {
		return "push:" + s.ServentGUID.String()
	}
	return s.Addr.String()
}
