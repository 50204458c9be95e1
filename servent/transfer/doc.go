// Package transfer moves files over HTTP on the Gnutella port (GNUTELLA.md
// section 8): the Uploader answers GET/HEAD for indexed files only, the
// Manager downloads a urn:sha1 from several sources at once into a partial
// file, verifies the whole-file SHA-1 before renaming it into the download
// folder, persists its queue to resume after a restart, and reaches
// firewalled sources by Push/GIV.
//
// HTTP is parsed by hand on the raw connection (no net/http server) so that
// request sizes are bounded like gtk-gnutella's and large bodies go out by
// sendfile from the *os.File to the *net.TCPConn.
package transfer
