package transfer

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"
)

// treeOf is the tree a library would give for content.
func treeOf(content []byte) *thex.Tree {
	h := thex.New()
	h.Write(content)
	return h.Tree()
}

// TestServeTreeGTKG replays interop 50's two requests against our
// uploader: the range answer names the tree exactly as gtk-gnutella's
// X-Thex-URI did, and the N2X answer is byte for byte gtk-gnutella's DIME
// body (the XML, the uuid from the root, the depth-2 breadth-first nodes).
func TestServeTreeGTKG(t *testing.T) {
	content := make([]byte, 600000)
	for i := range content {
		content[i] = byte(i % 251)
	}
	f := shareFile(t, t.TempDir(), 1, "thex pattern 600000.bin", content)
	tree := treeOf(content)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), Trees: func(s protocol.SHA1) (*thex.Tree, bool) {
		return tree, s == f.SHA1
	}})
	srv := startServer(t, "127.0.0.1", up, nil)
	resp, _ := splitResponse(t, exchange(t, "127.0.5.10", srv.addr, readInterop(t, "gtk-gnutella/50-thex-x-thex-uri-and-tree-600000.1.request.bin")))
	require.Equal(t, 206, resp.code)
	assert.Equal(t, "/uri-res/N2X?urn:sha1:DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC;VQWEVLI5CZLO25BLCGKT5TI75RCYAISG5C5EKUI", resp.header.Get("X-Thex-URI"))

	resp, body := splitResponse(t, exchange(t, "127.0.5.10", srv.addr, readInterop(t, "gtk-gnutella/50-thex-x-thex-uri-and-tree-600000.2.request.bin")))
	require.Equal(t, 200, resp.code)
	assert.Equal(t, "application/dime", resp.header.Get("Content-Type"))
	_, gtkgBody := splitResponse(t, readInterop(t, "gtk-gnutella/50-thex-x-thex-uri-and-tree-600000.2.response.bin"))
	require.Len(t, gtkgBody, 660)
	assert.True(t, bytes.Equal(gtkgBody, body), "the DIME body differs from gtk-gnutella's")

	// Another root, an unknown file, a tree not computed yet.
	for req, code := range map[string]int{
		"GET /uri-res/N2X?urn:sha1:DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC;AAAAVLI5CZLO25BLCGKT5TI75RCYAISG5C5EKUI HTTP/1.1\r\nConnection: close\r\n\r\n": 404,
		"GET /uri-res/N2X?urn:sha1:2PHZPWHZRM7JHJ5E2W2VBJ5ZXGIQW76Q HTTP/1.1\r\nConnection: close\r\n\r\n":                                         404,
		"GET /uri-res/N2X?urn:sha1:nonsense HTTP/1.1\r\nConnection: close\r\n\r\n":                                                                 400,
	} {
		resp, _ := splitResponse(t, exchange(t, "127.0.5.10", srv.addr, []byte(req)))
		assert.Equal(t, code, resp.code, req)
	}
	busy := NewUploader(UploaderConfig{Files: newMemFiles(f), Trees: func(protocol.SHA1) (*thex.Tree, bool) { return nil, false }})
	srv2 := startServer(t, "127.0.0.1", busy, nil)
	resp, _ = splitResponse(t, exchange(t, "127.0.5.10", srv2.addr, readInterop(t, "gtk-gnutella/50-thex-x-thex-uri-and-tree-600000.2.request.bin")))
	assert.Equal(t, 503, resp.code)
	assert.Equal(t, "TTH is being computed", resp.reason)
}
