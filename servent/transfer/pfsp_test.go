package transfer

import (
	"crypto/sha1"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/httphdr"
	"github.com/servent/servent/protocol/thex"
)

// TestPartialSharing: D downloads from a source that holds only the first
// MiB (a partial source, as gtk-gnutella answers for one: 206 with
// X-Available-Ranges, 416 beyond); D checks that MiB against the tree and
// shares exactly it, answering as gtk-gnutella does; when a full source
// comes, D finishes and stops sharing the partial.
func TestPartialSharing(t *testing.T) {
	content := randomBytes(t, 3<<20)
	full := shareFile(t, t.TempDir(), 1, "partial.bin", content)
	tree := treeOf(content)
	trees := func(s protocol.SHA1) (*thex.Tree, bool) { return tree, s == full.SHA1 }
	half := Partial{SHA1: full.SHA1, Name: full.Name, Size: full.Size, path: full.Path,
		Ranges: httphdr.NewRanges(full.Size, httphdr.Range{First: 0, Last: 1<<20 - 1})}
	x := NewUploader(UploaderConfig{Files: newMemFiles(), Trees: trees,
		Partials: func(s protocol.SHA1) (Partial, bool) { return half, s == full.SHA1 }})
	xs := startServer(t, "127.0.0.95", x, nil)

	d := openManager(t, newDirs(t), nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := d.Start(sha, full.Name, full.Size, []Source{{Addr: xs.addr}})
	require.NoError(t, err)
	var p Partial
	require.Eventually(t, func() bool {
		var ok bool
		p, ok = d.Partial(sha)
		return ok && p.Ranges.Total() == 1<<20
	}, 20*time.Second, time.Millisecond, "D checked the first MiB against the tree and shares it")
	assert.Equal(t, httphdr.Ranges{{First: 0, Last: 1<<20 - 1}}, p.Ranges)
	in, _ := d.Get(sha)
	assert.Equal(t, int64(1<<20), in.Done, "nothing outside what the source holds")
	assert.Zero(t, in.Corrupt)

	// D's uploader shares the partial by SHA-1 only.
	e := NewUploader(UploaderConfig{Files: newMemFiles(), Partials: d.Partial, Trees: d.Tree})
	es := startServer(t, "127.0.0.96", e, nil)
	get := func(req string) (*response, []byte) {
		return splitResponse(t, exchange(t, "127.0.0.97", es.addr, []byte(req)))
	}
	n2r := "GET /uri-res/N2R?" + sha.URN() + " HTTP/1.1\r\n"
	resp, body := get(n2r + "Range: bytes=0-1023\r\n\r\n")
	require.Equal(t, 206, resp.code)
	assert.Equal(t, "bytes 0-1023/3145728", resp.header.Get("Content-Range"))
	assert.Equal(t, "bytes 0-1048575", resp.header.Get("X-Available-Ranges"))
	assert.Equal(t, content[:1024], body)
	resp, _ = get(n2r + "Range: bytes=2000000-2000999\r\n\r\n")
	assert.Equal(t, 416, resp.code)
	assert.Equal(t, "Requested range not available yet", resp.reason)
	assert.False(t, resp.header.Has("Content-Range"), "gtk-gnutella sends none on this 416")
	assert.Equal(t, "bytes 0-1048575", resp.header.Get("X-Available-Ranges"))
	resp, _ = get(n2r + "Range: bytes=1000000-2000000\r\nConnection: close\r\n\r\n")
	require.Equal(t, 206, resp.code)
	assert.Equal(t, "bytes 1000000-1048575/3145728", resp.header.Get("Content-Range"), "cut to what it holds")
	assert.False(t, resp.header.Has("X-Available-Ranges"), "not on a connection that closes")
	resp, _ = get("HEAD /uri-res/N2R?" + sha.URN() + " HTTP/1.1\r\n\r\n")
	assert.Equal(t, 206, resp.code)
	assert.Equal(t, "bytes 0-1048575/3145728", resp.header.Get("Content-Range"), "no Range: the first held run")
	resp, _ = get("GET /get/1/partial.bin HTTP/1.1\r\nConnection: close\r\n\r\n")
	assert.Equal(t, 404, resp.code, "only by SHA-1")
	resp, body = get("GET /uri-res/N2X?" + sha.URN() + " HTTP/1.1\r\nConnection: close\r\n\r\n")
	require.Equal(t, 200, resp.code)
	got, _, err := thex.DecodeMessage(body, full.Size, tree.Root())
	require.NoError(t, err, "D serves the tree it checks with")
	assert.Equal(t, tree.Root(), got.Root())

	// A full source: D finishes, and the partial is no more.
	a := startServer(t, "127.0.0.98", NewUploader(UploaderConfig{Files: newMemFiles(full), Trees: trees}), nil)
	d.AddSources(sha, Source{Addr: a.addr})
	in = waitDone(t, d, sha)
	assert.Equal(t, StateComplete, in.State)
	_, ok := d.Partial(sha)
	assert.False(t, ok)
	assert.Equal(t, int64(1<<20), sourceServed(t, d, sha, xs.addr.String()), "the partial source served what it held")
}

// TestGTKGLabRequests replays what gtk-gnutella 1.2.3 sent our servent in
// the lab: its tree request (N2X, after our X-Thex-URI) and its first
// request to us as a partial source; the answers are the ones it took
// ("TTH matches ... all 14 slices okay", and the partial's ranges).
func TestGTKGLabRequests(t *testing.T) {
	content := randomBytes(t, 3500000)
	f := shareFile(t, t.TempDir(), 1, "thex lab file.bin", content)
	sha, err := protocol.ParseSHA1URN("urn:sha1:3EMGCFUS55AMTWY5SKJH5JYALLBXHBFK")
	require.NoError(t, err)
	f.SHA1 = sha // the lab file's urn; the uploader never rehashes
	tree := treeOf(content)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), Trees: func(s protocol.SHA1) (*thex.Tree, bool) { return tree, s == sha }})
	srv := startServer(t, "127.0.0.1", up, nil)
	resp, body := splitResponse(t, exchange(t, "127.0.0.20", srv.addr, readInterop(t, "lab-gtkg-n2x-request.bin")))
	require.Equal(t, 200, resp.code)
	assert.Equal(t, "application/dime", resp.header.Get("Content-Type"))
	got, _, err := thex.DecodeMessage(body, int64(len(content)), tree.Root())
	require.NoError(t, err)
	assert.Equal(t, 4, got.Depth, "3.5 MB: gtk-gnutella's good depth")

	part, err := protocol.ParseSHA1URN("urn:sha1:X3K4WKZJWUCRTHG46CR2SVS65EPMB74C")
	require.NoError(t, err)
	big := shareFile(t, t.TempDir(), 2, "pfsp us to gtkg.bin", randomBytes(t, 6000000))
	p := Partial{SHA1: part, Name: big.Name, Size: big.Size, path: big.Path,
		Ranges: httphdr.NewRanges(big.Size, httphdr.Range{First: 0, Last: 1572863})}
	pu := NewUploader(UploaderConfig{Files: newMemFiles(), Partials: func(s protocol.SHA1) (Partial, bool) { return p, s == part }})
	psrv := startServer(t, "127.0.0.1", pu, nil)
	resp, body = splitResponse(t, exchange(t, "127.0.0.20", psrv.addr, readInterop(t, "lab-gtkg-partial-request.bin")))
	require.Equal(t, 206, resp.code)
	assert.Equal(t, "bytes 0-1048575/6000000", resp.header.Get("Content-Range"))
	assert.Equal(t, "bytes 0-1572863", resp.header.Get("X-Available-Ranges"), "gtk-gnutella's request keeps the connection")
	assert.Len(t, body, 1048576)
}
