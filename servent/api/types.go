// Package api is the control API of a running servent: JSON over HTTP on a
// loopback address, every request authenticated with a key kept in the data
// folder (as Syncthing does), plus the Go client the command line uses.
//
// The package does not import the node: the server talks to a Backend, which
// cmd/servent adapts from *servent.Node, so the API and its client are tested
// against a fake.
package api

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors a Backend returns so the server can pick the HTTP status; any other
// error is a 500.
var (
	ErrNotFound = errors.New("not found")    // 404
	ErrInvalid  = errors.New("invalid")      // 400
	ErrConflict = errors.New("conflict")     // 409
	ErrNoSource = errors.New("no source")    // 409: an urn nobody offered yet
	ErrNoDaemon = errors.New("no servent")   // client side: nothing listening
	ErrAuth     = errors.New("unauthorized") // client side: 401
)

// Errorf returns an error whose message is the formatted text alone and
// which errors.Is kind (ErrNotFound, ErrInvalid...), so a Backend picks the
// HTTP status without prefixing what the user reads.
func Errorf(kind error, format string, a ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, a...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Status is GET /api/status.
type Status struct {
	Version string `json:"version"`
	GUID    string `json:"guid"`
	Mode    string `json:"mode"`
	Listen  string `json:"listen"`
	// IPv4 and IPv6 are our addresses as we advertise them, when known;
	// Links counts the established links by family ("ipv4", "ipv6") and
	// those over TLS ("tls").
	IPv4          string         `json:"ipv4,omitempty"`
	IPv6          string         `json:"ipv6,omitempty"`
	Links         map[string]int `json:"links,omitempty"`
	Started       time.Time      `json:"started"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	Peers         int            `json:"peers"`
	Leaves        int            `json:"leaves"`
	SharedFiles   int            `json:"shared_files"`
	SharedHashed  int            `json:"shared_hashed"` // of SharedFiles, hashed (searchable by urn)
	SharedKB      uint64         `json:"shared_kb"`
	BytesIn       uint64         `json:"bytes_in"`
	BytesOut      uint64         `json:"bytes_out"`
	MsgsIn        uint64         `json:"msgs_in"`
	MsgsOut       uint64         `json:"msgs_out"`
	Searches      int            `json:"searches"`
	Downloads     int            `json:"downloads"`
	// Inbound sockets closed while handshaking to make room, and refused
	// (address group at its cap, all slots established, banned, or a Gnet
	// handshake answered with an error code); neighbours cut for a flood;
	// addresses banned.
	InboundEvicted uint64       `json:"inbound_evicted"`
	InboundRefused uint64       `json:"inbound_refused"`
	Floods         uint64       `json:"floods"`
	Banned         uint64       `json:"banned"`
	UDP            UDP          `json:"udp"`
	Reachable      Reachable    `json:"reachable"`
	Reachability   Reachability `json:"reachability"`
	DynamicQueries DQ           `json:"dynamic_queries"`
	// Limits are the bandwidth caps and current rates, by class
	// ("upload", "download", "gnet-in", "gnet-out").
	Limits map[string]Limit `json:"limits,omitempty"`
}

// Limit is one class's bandwidth: its cap (0: none) and what it used over
// the last seconds.
type Limit struct {
	Cap  int64   `json:"cap_bytes_per_s"`
	Rate float64 `json:"rate_bytes_per_s"`
}

// DQ counts the dynamic queries an ultrapeer ran for its leaves and its
// own searches, in GET /api/status.
type DQ struct {
	Running     int               `json:"running"`
	Started     uint64            `json:"started"`
	Steps       uint64            `json:"steps"`        // ultrapeers queried one by one after the probe
	StatusAsked uint64            `json:"status_asked"` // BEAR/11 sent to leaves
	Guidance    uint64            `json:"guidance"`     // BEAR/12 taken from leaves
	Ended       map[string]uint64 `json:"ended,omitempty"`
}

// Reachability is the node's verdict on whether others can reach it, in
// GET /api/status and POST /api/reachability/check.
type Reachability struct {
	TCP          string `json:"tcp"` // "reachable", "firewalled" or "unknown"
	UDP          string `json:"udp"`
	Reason       string `json:"reason"`           // why, in words
	Advice       string `json:"advice,omitempty"` // what the user can do
	ExternalAddr string `json:"external_addr,omitempty"`
	Mapping      string `json:"mapping"` // e.g. "UPnP on router 192.168.1.1", or empty
	// Asked is how many peers a check asked for connect-backs (the check
	// only; 0: proven already, or no peer offers them).
	Asked int `json:"asked,omitempty"`
}

// Reachable is what proved the node reachable from outside, in GET
// /api/status: each fact holds for 30 min after its last proof.
type Reachable struct {
	TCP            ReachProof `json:"tcp"`
	UDPSolicited   ReachProof `json:"udp_solicited"`
	UDPUnsolicited ReachProof `json:"udp_unsolicited"`
}

// ReachProof is one fact: whether it holds, and its last proof (when,
// from which address, and how: "inbound" or "connect_back"); no proof yet
// leaves the last three out.
type ReachProof struct {
	Reachable bool       `json:"reachable"`
	LastProof *time.Time `json:"last_proof,omitempty"`
	From      string     `json:"from,omitempty"`
	Source    string     `json:"source,omitempty"`
}

// UDP is the UDP socket in GET /api/status: whether it runs, on which
// address, and what became of datagrams.
type UDP struct {
	Enabled bool   `json:"enabled"`
	Addr    string `json:"addr,omitempty"`
	Error   string `json:"error,omitempty"` // why UDP is off
	// Datagrams handled and sent, with their bytes.
	Received uint64 `json:"received"`
	BytesIn  uint64 `json:"bytes_in"`
	Sent     uint64 `json:"sent"`
	BytesOut uint64 `json:"bytes_out"`
	// Dropped on input: over a budget, not decodable, or of a type not
	// taken over UDP or not handled here.
	RateLimited uint64 `json:"rate_limited"`
	Malformed   uint64 `json:"malformed"`
	NotAccepted uint64 `json:"not_accepted"`
	// Not sent: over an output budget.
	SendBudget uint64 `json:"send_budget"`
}

// Peer states. A connection is "connected"; a peer the user named (--peer,
// peers add) that is not connected is listed too, "connecting" while it is
// dialled, else "waiting" for NextTry, with the last error in words.
const (
	PeerConnected  = "connected"
	PeerConnecting = "connecting"
	PeerWaiting    = "waiting"
)

// Peer is one Gnutella connection, or a user-named peer that is not
// connected (GET /api/peers).
type Peer struct {
	Addr          string    `json:"addr"`
	Mode          string    `json:"mode"` // "leaf" or "ultrapeer"
	UserAgent     string    `json:"user_agent"`
	Outbound      bool      `json:"outbound"`
	Since         time.Time `json:"since"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	BytesIn       uint64    `json:"bytes_in"`
	BytesOut      uint64    `json:"bytes_out"`
	MsgsIn        uint64    `json:"msgs_in"`
	MsgsOut       uint64    `json:"msgs_out"`
	Compressed    bool      `json:"compressed"`
	TLS           bool      `json:"tls,omitempty"`          // the link runs over TLS
	Family        string    `json:"family,omitempty"`       // "ipv4" or "ipv6" (connected peers)
	State         string    `json:"state"`                  // PeerConnected, PeerConnecting, PeerWaiting
	LastError     string    `json:"last_error,omitempty"`   // a user-named peer's last failure, in words
	LastErrorAt   time.Time `json:"last_error_at,omitzero"` // when it happened
	NextTry       time.Time `json:"next_try,omitzero"`      // a waiting peer's next dial
}

// PeerRequest is the body of POST and DELETE /api/peers.
type PeerRequest struct {
	Addr string `json:"addr"`
}

// SharedFile is one indexed file (GET /api/shares).
type SharedFile struct {
	Index uint32 `json:"index"`
	Name  string `json:"name"`
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	URN   string `json:"urn,omitempty"` // empty until hashed
	// TTH is the Tiger tree root (urn:tree:tiger/:...), once computed.
	TTH string `json:"tth,omitempty"`
	// Magnet is a magnet link for the file with us as its source, once
	// hashed.
	Magnet string `json:"magnet,omitempty"`
}

// SearchRequest is the body of POST /api/searches.
type SearchRequest struct {
	Criteria string `json:"criteria"`
}

// SearchInfo describes one search started here.
type SearchInfo struct {
	ID       string    `json:"id"`
	Criteria string    `json:"criteria"`
	Started  time.Time `json:"started"`
	Results  int       `json:"results"`
	Stopped  bool      `json:"stopped"`
	// Filtered counts the results the spam and hostile filter dropped, by
	// reason (hostile, bogon, karma, spam-sha1, spam-name, no-match,
	// echoes-query, one-sha1-many-names).
	Filtered map[string]int `json:"filtered,omitempty"`
	// Error says why a browse failed (a browse is a search whose Criteria
	// is "browse HOST:PORT", Stopped when the host's list ended).
	Error string `json:"error,omitempty"`
}

// BrowseRequest is the body of POST /api/browse: Addr, or the host of
// a search's result (SearchID and Result, its N), reached through a push
// when it is firewalled.
type BrowseRequest struct {
	Addr     string `json:"addr,omitempty"` // HOST:PORT
	SearchID string `json:"search_id,omitempty"`
	Result   int    `json:"result,omitempty"`
}

// Result is one file found by a search. N numbers results from 1 in the
// order they arrived; it stays the same for the life of the search.
type Result struct {
	N       int      `json:"n"`
	Name    string   `json:"name"`
	Size    uint64   `json:"size"`
	URN     string   `json:"urn"`
	Sources int      `json:"sources"`
	Addrs   []string `json:"addrs,omitempty"`
	Push    int      `json:"push,omitempty"` // sources reachable by push only
}

// SearchResults is GET /api/searches/{id}/results.
type SearchResults struct {
	Search  SearchInfo `json:"search"`
	Results []Result   `json:"results"`
}

// FilteredResult is one result the spam and hostile filter dropped.
type FilteredResult struct {
	Reason string `json:"reason"`
	Name   string `json:"name"`
	Size   uint64 `json:"size"`
	URN    string `json:"urn,omitempty"`
	From   string `json:"from"`             // the hit's address
	Vendor string `json:"vendor,omitempty"` // the hit's vendor code
}

// FilteredResults is GET /api/searches/{id}/filtered: the first results
// the filter dropped (at most a few hundred are kept; Search.Filtered
// counts them all).
type FilteredResults struct {
	Search  SearchInfo       `json:"search"`
	Results []FilteredResult `json:"results"`
}

// DownloadRequest is the body of POST /api/downloads: either a result of a
// search (SearchID and Result, its N) or an URN ("urn:sha1:..."); when both
// are given the URN must match the result.
type DownloadRequest struct {
	SearchID string `json:"search_id,omitempty"`
	Result   int    `json:"result,omitempty"`
	URN      string `json:"urn,omitempty"`
	Name     string `json:"name,omitempty"` // for an URN without a known result
	Size     uint64 `json:"size,omitempty"`
	// Magnet, instead of the above: a magnet link; its sources are used at
	// once and a search by urn finds more.
	Magnet string `json:"magnet,omitempty"`
}

// Download states (docs/api.md lists them). Error says why for stalled,
// disk-error, gone and failed.
const (
	StateDownloading = "downloading"
	StateWaiting     = "waiting" // every source is busy or backing off after a failure
	// StateStalled: no usable source left (dropped or banned); a search
	// that finds a new source, or `servent get` again, resumes it.
	StateStalled = "stalled"
	// StateDiskError: writing to the servent's disk failed (full disk);
	// the data is kept and the write is retried by itself.
	StateDiskError = "disk-error"
	StateVerifying = "verifying"
	StateComplete  = "complete"
	StateGone      = "gone" // completed, but the file is no longer at Path
	StateFailed    = "failed"
)

// DownloadStates lists every state a Download can be in.
var DownloadStates = []string{StateDownloading, StateWaiting, StateStalled, StateDiskError, StateVerifying,
	StateComplete, StateGone, StateFailed}

// Download is one download with its progress (GET /api/downloads).
type Download struct {
	ID            string `json:"id"`
	URN           string `json:"urn"`
	Name          string `json:"name"`
	Size          uint64 `json:"size"`
	Done          uint64 `json:"done"` // bytes on disk
	State         string `json:"state"`
	Sources       int    `json:"sources"`
	ActiveSources int    `json:"active_sources"`
	RateBytesPerS uint64 `json:"rate_bytes_per_s,omitempty"`
	Path          string `json:"path,omitempty"` // final path once complete
	Error         string `json:"error,omitempty"`
	// ChunkMap draws the file in at most 256 cells: '.' nothing yet, '>'
	// being fetched, '+' partly done, a letter when done ('a' from
	// ChunkSources[0], 'b' from [1], ...; '#' past 26 sources).
	ChunkMap     string   `json:"chunk_map,omitempty"`
	ChunkSources []string `json:"chunk_sources,omitempty"`
	// QueuePosition is our best place in a source's upload queue (PARQ),
	// 0 when no source queued us.
	QueuePosition int `json:"queue_position,omitempty"`
	// TTH is the Tiger tree root expected (urn:tree:tiger/:...); TreeChecked
	// says chunks are checked against the tree as they arrive, and
	// CorruptBytes counts those thrown away for failing it (fetched again).
	TTH          string `json:"tth,omitempty"`
	TreeChecked  bool   `json:"tree_checked,omitempty"`
	CorruptBytes int64  `json:"corrupt_bytes,omitempty"`
}

// Finished reports whether the download reached a final state.
func (d Download) Finished() bool {
	switch d.State {
	case StateComplete, StateGone, StateFailed:
		return true
	}
	return false
}

// Stuck reports whether the download waits for something only time or
// the user can change (a new source, disk space); it resumes by itself.
func (d Download) Stuck() bool {
	return d.State == StateStalled || d.State == StateDiskError
}

// Host is one entry of the host cache (GET /api/hosts).
type Host struct {
	Addr      string    `json:"addr"`
	Ultrapeer bool      `json:"ultrapeer"`
	LastSeen  time.Time `json:"last_seen"`
	Failures  int       `json:"failures"`
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}

// Backend is what the server needs from a node.
type Backend interface {
	Status() Status
	Peers() []Peer
	AddPeer(addr string) error
	DropPeer(addr string) error
	Shares() []SharedFile
	Rescan() error
	StartSearch(criteria string) (SearchInfo, error)
	Searches() []SearchInfo
	// SearchResults returns the search and its results numbered from 1.
	SearchResults(id string) (SearchInfo, []Result, error)
	// FilteredResults returns the search and the results its filter dropped.
	FilteredResults(id string) (SearchInfo, []FilteredResult, error)
	StopSearch(id string) error
	// Limits are the bandwidth caps and rates (GET /api/limits);
	// SetLimits changes caps, bytes/s by class, 0 for none (PUT).
	Limits() map[string]Limit
	SetLimits(caps map[string]int64) error
	// Browse lists the files a host shares, as the results of a new
	// search: the host at req.Addr, or the host of a search result (by
	// push when it is firewalled).
	Browse(req BrowseRequest) (SearchInfo, error)
	StartDownload(req DownloadRequest) (Download, error)
	Downloads() []Download
	CancelDownload(id string) error
	Hosts() []Host
	// CheckReachability asks peers for connect-backs now and waits a
	// bounded time for the answers.
	CheckReachability(ctx context.Context) Reachability
}
