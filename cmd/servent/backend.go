package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent"
	"github.com/servent/servent/servent/api"
	"github.com/servent/servent/servent/bwlimit"
	"github.com/servent/servent/servent/metrics"
	"github.com/servent/servent/servent/transfer"
	"github.com/servent/servent/servent/webui"
)

// startAPI serves the control API of node on addr, with the key and the
// address file in dataDir, the web UI at / and the metrics at /metrics
// (open to anyone with metricsOpen); it stops with ctx or Close.
func startAPI(ctx context.Context, node *servent.Node, addr, dataDir string, metricsOpen bool, log *slog.Logger) (*api.Server, error) {
	return api.Start(ctx, api.Config{Addr: addr, DataDir: dataDir, Backend: nodeBackend{node}, Logger: log,
		Options: api.Options{UI: webui.FS(), Metrics: metrics.Handler(node.MetricsSnapshot), MetricsOpen: metricsOpen}})
}

// nodeBackend adapts a *servent.Node to api.Backend.
type nodeBackend struct{ n *servent.Node }

var _ api.Backend = nodeBackend{}

func (b nodeBackend) Status() api.Status {
	st := b.n.Status()
	s := api.Status{
		Version: version, GUID: b.n.GUID().String(), Mode: st.Mode, Listen: st.Listen,
		Started: st.Started, Peers: st.Peers, Leaves: st.Leaves,
		SharedFiles: st.SharedFiles, SharedKB: st.SharedKB, SharedHashed: st.SharedHashed,
		BytesIn: st.BytesIn, BytesOut: st.BytesOut, MsgsIn: st.MsgsIn, MsgsOut: st.MsgsOut,
		Searches:       len(b.n.Searches()),
		Links:          st.Links,
		InboundEvicted: st.Inbound.Evicted,
		InboundRefused: st.Inbound.RefusedNetCap + st.Inbound.RefusedFull + st.Inbound.RefusedBanned + st.Inbound.RefusedHandshake,
		Floods:         st.Floods, Banned: st.Banned,
		UDP: api.UDP{
			Enabled: st.UDP.Enabled, Addr: st.UDP.Addr, Error: st.UDP.Error,
			Received: st.UDP.Received, BytesIn: st.UDP.BytesIn, Sent: st.UDP.Sent, BytesOut: st.UDP.BytesOut,
			RateLimited: st.UDP.RateLimited,
			Malformed:   st.UDP.Malformed + st.UDP.Truncated + st.UDP.TooLarge,
			NotAccepted: st.UDP.NotAccepted + st.UDP.Unhandled,
			SendBudget:  st.UDP.SendBudget,
		},
	}
	if st.IPv4.IsValid() {
		s.IPv4 = st.IPv4.String()
	}
	if st.IPv6.IsValid() {
		s.IPv6 = st.IPv6.String()
	}
	s.Reachable = api.Reachable{TCP: reachProof(st.Reach.TCP), UDPSolicited: reachProof(st.Reach.UDPSolicited), UDPUnsolicited: reachProof(st.Reach.UDPUnsolicited)}
	s.Reachability = reachability(b.n.Reachability())
	s.Limits = b.Limits()
	s.DynamicQueries = api.DQ{Running: st.DQ.Running, Started: st.DQ.Started, Steps: st.DQ.Steps,
		StatusAsked: st.DQ.StatusAsked, Guidance: st.DQ.Guidance, Ended: st.DQ.Ended}
	if !st.Started.IsZero() {
		s.UptimeSeconds = int64(time.Since(st.Started) / time.Second)
	}
	if m := b.n.Downloads(); m != nil {
		s.Downloads = len(m.List())
	}
	return s
}

func (b nodeBackend) Peers() []api.Peer {
	ps := b.n.Peers()
	out := make([]api.Peer, 0, len(ps))
	up := make(map[string]bool, len(ps))
	for _, p := range ps {
		up[p.Addr.String()] = true
		out = append(out, api.Peer{
			Addr: p.Addr.String(), Mode: p.Mode, UserAgent: p.UserAgent, Outbound: p.Outbound,
			Since: p.Since, UptimeSeconds: int64(time.Since(p.Since) / time.Second),
			BytesIn: p.BytesIn, BytesOut: p.BytesOut, MsgsIn: p.MsgsIn, MsgsOut: p.MsgsOut,
			Compressed: p.Compressed, TLS: p.TLS, Family: p.Family, State: api.PeerConnected,
		})
	}
	// The user-named peers not connected, with why.
	for _, np := range b.n.NamedPeers() {
		if up[np.Addr] || (np.Resolved.IsValid() && up[np.Resolved.String()]) {
			continue
		}
		p := api.Peer{Addr: np.Addr, State: api.PeerWaiting, LastError: np.LastError, LastErrorAt: np.LastErrorAt,
			NextTry: np.NextTry}
		if np.Dialing {
			p.State, p.NextTry = api.PeerConnecting, time.Time{}
		}
		out = append(out, p)
	}
	return out
}

func (b nodeBackend) AddPeer(addr string) error {
	if _, _, err := splitHostPort(addr); err != nil {
		return api.Errorf(api.ErrInvalid, "peer %q: want HOST:PORT", addr)
	}
	return b.n.AddPeer(addr)
}

func (b nodeBackend) DropPeer(addr string) error {
	known := false
	for _, p := range b.n.Peers() {
		if p.Addr.String() == addr {
			known = true
		}
	}
	if err := b.n.DropPeer(addr); err != nil {
		if !known {
			return api.Errorf(api.ErrNotFound, "not connected to %s", addr)
		}
		return err
	}
	return nil
}

func (b nodeBackend) Shares() []api.SharedFile {
	lib := b.n.Library()
	if lib == nil {
		return nil
	}
	fs := lib.Files()
	out := make([]api.SharedFile, 0, len(fs))
	for _, f := range fs {
		sf := api.SharedFile{Index: f.Index, Name: f.Name, Path: f.Path, Size: f.Size}
		if !f.SHA1.IsZero() {
			sf.URN = f.SHA1.URN()
			sf.Magnet = b.shareMagnet(f.SHA1, f.TTH, f.Name, f.Size)
			if !f.TTH.IsZero() {
				sf.TTH = f.TTH.URN()
			}
		}
		out = append(out, sf)
	}
	return out
}

func (b nodeBackend) Rescan() error {
	lib := b.n.Library()
	if lib == nil {
		return errors.New("no shared folder")
	}
	return lib.Rescan()
}

func searchInfo(s *servent.Search, results int) api.SearchInfo {
	si := api.SearchInfo{ID: s.ID, Criteria: s.Criteria, Started: s.Started, Results: results, Stopped: s.Stopped(), Filtered: s.Filtered()}
	if err := s.Err(); err != nil {
		si.Error = err.Error()
	}
	return si
}

func (b nodeBackend) Limits() map[string]api.Limit {
	out := map[string]api.Limit{}
	for _, c := range bwlimit.Classes() {
		l := b.n.Limits().Get(c)
		out[c.String()] = api.Limit{Cap: l.Cap(), Rate: l.Rate()}
	}
	return out
}

func (b nodeBackend) SetLimits(caps map[string]int64) error {
	for name, v := range caps {
		if _, ok := bwlimit.ClassNamed(name); !ok {
			return api.Errorf(api.ErrInvalid, "no bandwidth class %q (upload, download, gnet-in, gnet-out)", name)
		}
		if v != 0 && v < 1024 {
			return api.Errorf(api.ErrInvalid, "%s: %d bytes/s is under 1 KiB/s (0 for no cap)", name, v)
		}
	}
	for name, v := range caps {
		c, _ := bwlimit.ClassNamed(name)
		b.n.Limits().Get(c).Set(v)
	}
	return nil
}

func (b nodeBackend) Browse(req api.BrowseRequest) (api.SearchInfo, error) {
	if req.SearchID != "" {
		s, ok := b.n.SearchByID(req.SearchID)
		if !ok {
			return api.SearchInfo{}, api.Errorf(api.ErrNotFound, "no search %s (the servent restarted?): search again", req.SearchID)
		}
		rs := s.Results()
		if req.Result < 1 || req.Result > len(rs) {
			return api.SearchInfo{}, api.Errorf(api.ErrNotFound, "search %s has no result %d (it has %d)", req.SearchID, req.Result, len(rs))
		}
		src, ok := browseSource(rs[req.Result-1].Sources)
		if !ok {
			return api.SearchInfo{}, api.Errorf(api.ErrInvalid, "result %d: no source that can be browsed (firewalled without a servent GUID)", req.Result)
		}
		return searchInfo(b.n.BrowseHost(src), 0), nil
	}
	ap, err := resolveHost(req.Addr)
	if err != nil {
		return api.SearchInfo{}, api.Errorf(api.ErrInvalid, "browse %s: %v", req.Addr, err)
	}
	return searchInfo(b.n.Browse(ap), 0), nil
}

// browseSource picks the source of a result to browse: one we can
// connect to, else a firewalled one we can push to.
func browseSource(srcs []transfer.Source) (transfer.Source, bool) {
	for _, s := range srcs {
		if !s.Push && s.Addr.IsValid() {
			return s, true
		}
	}
	for _, s := range srcs {
		if !s.ServentGUID.IsZero() {
			return s, true
		}
	}
	return transfer.Source{}, false
}

// resolveHost turns HOST:PORT into an address, asking the resolver for a
// name (5 s at most).
func resolveHost(addr string) (netip.AddrPort, error) {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, errors.New("want HOST:PORT")
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), uint16(p)), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve %s", host)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}

func (b nodeBackend) StartSearch(criteria string) (api.SearchInfo, error) {
	var sha1s []protocol.SHA1
	if sha, err := protocol.ParseSHA1URN(strings.TrimSpace(criteria)); err == nil {
		sha1s = []protocol.SHA1{sha}
	}
	s := b.n.Search(criteria, sha1s)
	return searchInfo(s, 0), nil
}

func (b nodeBackend) Searches() []api.SearchInfo {
	ss := b.n.Searches()
	out := make([]api.SearchInfo, 0, len(ss))
	for _, s := range ss {
		out = append(out, searchInfo(s, len(s.Results())))
	}
	return out
}

// maxAddrs bounds the source addresses listed per result.
const maxAddrs = 8

func (b nodeBackend) SearchResults(id string) (api.SearchInfo, []api.Result, error) {
	s, err := b.search(id)
	if err != nil {
		return api.SearchInfo{}, nil, err
	}
	rs := s.Results()
	out := make([]api.Result, 0, len(rs))
	for i, r := range rs {
		res := api.Result{N: i + 1, Name: r.Name, Size: r.Size, Sources: len(r.Sources)}
		if !r.SHA1.IsZero() {
			res.URN = r.SHA1.URN()
		}
		for _, src := range r.Sources {
			if src.Push {
				res.Push++
			} else if len(res.Addrs) < maxAddrs {
				res.Addrs = append(res.Addrs, src.Addr.String())
			}
		}
		out = append(out, res)
	}
	return searchInfo(s, len(rs)), out, nil
}

func (b nodeBackend) FilteredResults(id string) (api.SearchInfo, []api.FilteredResult, error) {
	s, err := b.search(id)
	if err != nil {
		return api.SearchInfo{}, nil, err
	}
	rs := s.Rejected()
	out := make([]api.FilteredResult, 0, len(rs))
	for _, r := range rs {
		fr := api.FilteredResult{Reason: r.Reason, Name: r.Name, Size: r.Size, From: r.From.String(), Vendor: r.Vendor}
		if !r.SHA1.IsZero() {
			fr.URN = r.SHA1.URN()
		}
		out = append(out, fr)
	}
	return searchInfo(s, len(s.Results())), out, nil
}

// search finds a search by ID, or says it does not exist.
func (b nodeBackend) search(id string) (*servent.Search, error) {
	s, ok := b.n.SearchByID(id)
	if !ok {
		return nil, api.Errorf(api.ErrNotFound, "no search %s", id)
	}
	return s, nil
}

func (b nodeBackend) StopSearch(id string) error {
	s, err := b.search(id)
	if err != nil {
		return err
	}
	s.Stop()
	return nil
}

// sourcesOf gathers every source any search saw for sha, with a name and
// size for the file, so a download starts with the widest swarm.
func (b nodeBackend) sourcesOf(sha protocol.SHA1) (name string, size uint64, srcs []transfer.Source) {
	// Proxies (a slice) are left out of the key: the same source seen
	// twice is one source.
	type sourceKey struct {
		addr  netip.AddrPort
		index uint32
		name  string
		guid  protocol.GUID
		push  bool
	}
	seen := map[sourceKey]bool{}
	for _, s := range b.n.Searches() {
		for _, r := range s.Results() {
			if r.SHA1 != sha {
				continue
			}
			if name == "" {
				name, size = r.Name, r.Size
			}
			for _, src := range r.Sources {
				if k := (sourceKey{src.Addr, src.Index, src.Name, src.ServentGUID, src.Push}); !seen[k] {
					seen[k] = true
					srcs = append(srcs, src)
				}
			}
		}
	}
	return name, size, srcs
}

func (b nodeBackend) StartDownload(req api.DownloadRequest) (api.Download, error) {
	if req.Magnet != "" {
		return b.startMagnet(req)
	}
	m := b.n.Downloads()
	if m == nil {
		return api.Download{}, errors.New("downloads are not available in this servent")
	}
	var sha protocol.SHA1
	if req.URN != "" {
		var err error
		if sha, err = protocol.ParseSHA1URN(req.URN); err != nil {
			return api.Download{}, api.Errorf(api.ErrInvalid, "%q is not an urn:sha1", req.URN)
		}
	}
	name, size := req.Name, req.Size
	if req.SearchID != "" {
		// A search the servent forgot (restarted since) falls back on the urn.
		if s, ok := b.n.SearchByID(req.SearchID); ok {
			rs := s.Results()
			if req.Result < 1 || req.Result > len(rs) {
				return api.Download{}, api.Errorf(api.ErrNotFound, "search %s has no result %d (it has %d)", req.SearchID, req.Result, len(rs))
			}
			r := rs[req.Result-1]
			if r.SHA1.IsZero() {
				return api.Download{}, api.Errorf(api.ErrInvalid, "result %d (%s) came without an urn:sha1, so it could not be verified; pick another", req.Result, r.Name)
			}
			if !sha.IsZero() && sha != r.SHA1 {
				return api.Download{}, api.Errorf(api.ErrConflict, "result %d of search %s is %s, not %s", req.Result, req.SearchID, r.SHA1.URN(), sha.URN())
			}
			sha, name, size = r.SHA1, r.Name, r.Size
		} else if sha.IsZero() {
			return api.Download{}, api.Errorf(api.ErrNotFound, "no search %s (the servent restarted?): search again", req.SearchID)
		}
	}
	if sha.IsZero() {
		return api.Download{}, api.Errorf(api.ErrInvalid, "give a search result or an urn:sha1")
	}
	// A finished download is not fetched again, even when its file is gone
	// (the answer says so); `servent downloads cancel` removes it from the
	// list first if that is what the user wants.
	if info, ok := m.Get(sha); ok && (info.State == transfer.StateComplete || info.State == transfer.StateGone) {
		return toAPIDownload(info), nil
	}
	n, sz, srcs := b.sourcesOf(sha)
	if name == "" {
		name, size = n, sz
	}
	if len(srcs) == 0 {
		if info, ok := m.Get(sha); ok {
			return toAPIDownload(info), nil
		}
		return api.Download{}, api.Errorf(api.ErrNoSource, "no known source for %s: find it with `servent search` first", sha.URN())
	}
	if name == "" {
		name = sha.Base32()
	}
	info, err := m.Start(sha, name, int64(size), srcs)
	if err != nil {
		return api.Download{}, err
	}
	return toAPIDownload(info), nil
}

func toAPIDownload(i transfer.Info) api.Download {
	d := api.Download{
		ID: i.SHA1.Base32(), URN: i.SHA1.URN(), Name: i.Name, Size: uint64(max(i.Size, 0)), Done: uint64(max(i.Done, 0)),
		Sources: i.Sources, ActiveSources: i.Active, Path: i.Path, Error: i.Err,
		ChunkMap: i.ChunkMap, ChunkSources: i.ChunkSources, QueuePosition: i.QueuePosition,
		TreeChecked: i.TreeChecked, CorruptBytes: i.Corrupt,
	}
	if !i.TTH.IsZero() {
		d.TTH = i.TTH.URN()
	}
	switch i.State {
	case transfer.StateActive:
		d.State = api.StateDownloading
	case transfer.StateWaiting:
		d.State = api.StateWaiting
	case transfer.StateStalled:
		d.State = api.StateStalled
	case transfer.StateDiskError:
		d.State = api.StateDiskError
	case transfer.StateVerifying:
		d.State = api.StateVerifying
	case transfer.StateComplete:
		d.State = api.StateComplete
	case transfer.StateGone:
		d.State = api.StateGone
	case transfer.StateFailed:
		d.State = api.StateFailed
	default:
		d.State = string(i.State)
	}
	return d
}

func (b nodeBackend) Downloads() []api.Download {
	m := b.n.Downloads()
	if m == nil {
		return nil
	}
	is := m.List()
	out := make([]api.Download, 0, len(is))
	for _, i := range is {
		out = append(out, toAPIDownload(i))
	}
	return out
}

func (b nodeBackend) CancelDownload(id string) error {
	m := b.n.Downloads()
	sha, err := protocol.ParseSHA1Base32(id)
	if err != nil {
		if sha, err = protocol.ParseSHA1URN(id); err != nil {
			return api.Errorf(api.ErrNotFound, "no download %s", id)
		}
	}
	if m == nil {
		return api.Errorf(api.ErrNotFound, "no download %s", id)
	}
	if err := m.Cancel(sha); err != nil {
		if errors.Is(err, transfer.ErrUnknown) {
			return api.Errorf(api.ErrNotFound, "no download %s", id)
		}
		return err
	}
	return nil
}

func (b nodeBackend) Hosts() []api.Host {
	hs := b.n.Hosts()
	out := make([]api.Host, 0, len(hs))
	for _, h := range hs {
		out = append(out, api.Host{Addr: h.Addr.String(), Ultrapeer: h.Ultrapeer, LastSeen: h.LastSeen, Failures: h.Failures})
	}
	return out
}

func reachProof(p servent.ReachProof) api.ReachProof {
	r := api.ReachProof{Reachable: p.Reachable}
	if !p.At.IsZero() {
		at := p.At.UTC()
		r.LastProof, r.From, r.Source = &at, p.From.String(), p.Source
	}
	return r
}

// doctorWait bounds how long a reachability check waits for connect-backs.
const doctorWait = 20 * time.Second

func (b nodeBackend) CheckReachability(ctx context.Context) api.Reachability {
	v, asked := b.n.CheckReachability(ctx, doctorWait)
	r := reachability(v)
	r.Asked = asked
	return r
}

func reachability(v servent.ReachVerdict) api.Reachability {
	r := api.Reachability{TCP: string(v.TCP), UDP: string(v.UDP), Reason: v.Reason, Advice: v.Advice}
	if v.ExternalAddr.IsValid() {
		r.ExternalAddr = v.ExternalAddr.String()
	}
	if m := v.Mapping; m.Protocol != "" && m.Err == "" {
		r.Mapping = fmt.Sprintf("%s on router %s", m.ProtocolName(), m.Router)
	}
	return r
}
