// Package transfer moves files over HTTP on the Gnutella port (GNUTELLA.md
// section 8): the Uploader answers GET/HEAD for indexed files only, the
// Manager downloads a urn:sha1 from several sources at once into a partial
// file, verifies the whole-file SHA-1 before moving it into the download
// folder, persists its queue to resume after a restart, and reaches
// firewalled sources by Push/GIV.
//
// HTTP is parsed by hand on the raw connection (no net/http server) so that
// request sizes are bounded like gtk-gnutella's and large bodies go out by
// sendfile from the *os.File to the *net.TCPConn (over TLS, which encrypts
// in userspace, through a 256 KiB buffer).
//
// # What the node does
//
// Uploads:
//
//	up := transfer.NewUploader(transfer.UploaderConfig{Files: lib /* *sharedir.Library */,
//		AltLocs: mgr.AltLocs, Logger: log})
//	// inbound connection whose first 4 bytes are "GET " or "HEAD":
//	up.ServeConn(ctx, conn, br) // closes conn when done
//	// a Push for our GUID and one of our indices (connect back, GIV, serve):
//	go transfer.ServeGIV(ctx, dial, requesterAddr, index, ourGUID, file.Name, up)
//
// The conn given to ServeConn should expose ReadFrom of the *net.TCPConn
// (pass the TCPConn itself, with br holding the peeked bytes) or bodies go
// through a userspace copy, 256 KiB at a time, instead of sendfile. A
// request that came over TLS is served on the *tls.Conn, so: it has no
// ReadFrom and cannot sendfile.
//
// Downloads:
//
//	mgr, err := transfer.Open(transfer.ManagerConfig{DataDir: filepath.Join(dataDir, "downloads"),
//		DownloadDir: downloadDir, Dial: dial, SendPush: sendPush, Logger: log})
//	defer mgr.Close() // saves progress; Open on the same DataDir resumes
//	mgr.Start(sha1, name, size /* -1 if unknown */, sources) // from a search result
//	mgr.AddSources(sha1, more...)                             // later query hits
//	mgr.List(); mgr.Get(sha1); mgr.Cancel(sha1); mgr.Wait(ctx, sha1)
//	// inbound connection whose first 4 bytes are "GIV ":
//	line, err := transfer.ReadGIVLine(br)
//	mgr.HandleGIV(conn, br, line) // takes ownership of conn
//
// SendPush(src) must route a Push descriptor (src.ServentGUID, src.Index,
// our IP and port) towards the source; the Manager calls it for sources
// with the push flag, and for unreachable sources whose servent GUID is
// known, then waits PushTimeout for the GIV.
//
// # Downloads: chunks, blame, resume
//
// A file is cut into ChunkSize pieces (512 KiB by default, as
// gtk-gnutella). Each source gets one worker with one keep-alive
// connection issuing successive "Range: bytes=a-b" requests for the lowest
// free chunk; when no chunk is free, an idle worker also fetches a chunk
// another source is still on (end game), the first copy wins. Chunks are
// written with WriteAt into a sparse partial file under DataDir/partial
// and each records the source that served it (its owner). A worker that
// fails releases its chunk; the source is retried with exponential
// back-off and dropped after MaxSourceFailures; a source that stalls for
// StallTimeout is a failure. 503 is retried after Retry-After. A response
// for another urn or size bans the source for that file.
//
// When every chunk is in, the whole file is hashed. A match moves it into
// DownloadDir (link + unlink in the same filesystem, so an existing file is
// never replaced; copy + fsync + rename across filesystems). A mismatch
// starts the blame rounds described on (*download).blame: suspects are
// banned tentatively one at a time and their chunks refetched from the
// others, ordered by disputes (refetched chunks whose bytes differ from
// what they replace); the suspect whose removal makes the hash match stays
// banned. Nothing reaches DownloadDir before the hash matches.
//
// A failed write to our own disk (a full disk, for a chunk, the state
// file or the move into DownloadDir) is not blamed on the source: the
// download pauses in StateDiskError with the OS error, keeps its chunks
// and sources, and retries after DiskRetry (backing off). When every
// source is dropped or banned it is StateStalled, the error says why, and
// a new source resumes it. A completed file that was moved or deleted
// since is listed as StateGone.
//
// The state file (JSON: urn, name, size, chunk owners, sources, bans) is
// rewritten atomically at most once a second and on Close, after an fsync
// of the partial file, so a chunk it lists is on disk; a new Manager on
// the same DataDir resumes from the chunks it lists, also after the
// process was killed (TestCrashResume). The placed file's folder is
// fsynced before the partial and state files are removed. Completed
// downloads are listed in DataDir/completed.json (the newest 100, none
// older than 30 days) and shown again after a restart.
package transfer
