// Package apitest provides a fake api.Backend for tests of the control API
// and of the command line.
package apitest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/servent/servent/servent/api"
)

// Fake is an in-memory api.Backend. Set its exported fields before use (or
// under Lock); it records the calls that change state.
type Fake struct {
	sync.Mutex
	StatusV       api.Status
	PeersV        []api.Peer
	SharesV       []api.SharedFile
	HostsV        []api.Host
	ReachabilityV api.Reachability
	// Results are what every new search finds.
	Results []api.Result
	// Trickle makes results arrive one more per SearchResults call, as
	// from a real network.
	Trickle bool
	// Caps are the bandwidth caps set through the API, by class.
	Caps map[string]int64
	// Filtered are what every new search's filter dropped.
	Filtered []api.FilteredResult
	// DownloadSteps are the states a download goes through, one per call of
	// Downloads (the last one stays); default: one step, complete.
	DownloadSteps []api.Download

	Added, Dropped []string
	Rescans        int
	Cancelled      []string
	Stopped        []string
	DownloadReqs   []api.DownloadRequest

	searches  []*fakeSearch
	downloads []*fakeDownload
	started   int // downloads ever started: IDs stay unique after a cancel
}

type fakeSearch struct {
	info    api.SearchInfo
	visible int
}

type fakeDownload struct {
	d    api.Download
	step int
}

var _ api.Backend = (*Fake)(nil)

func (f *Fake) Status() api.Status {
	f.Lock()
	defer f.Unlock()
	return f.StatusV
}

func (f *Fake) Peers() []api.Peer {
	f.Lock()
	defer f.Unlock()
	return slices.Clone(f.PeersV)
}

func (f *Fake) AddPeer(addr string) error {
	f.Lock()
	defer f.Unlock()
	if addr == "bad" {
		return api.Errorf(api.ErrInvalid, "peer address %q: want HOST:PORT", addr)
	}
	f.Added = append(f.Added, addr)
	return nil
}

func (f *Fake) DropPeer(addr string) error {
	f.Lock()
	defer f.Unlock()
	for _, p := range f.PeersV {
		if p.Addr == addr {
			f.Dropped = append(f.Dropped, addr)
			return nil
		}
	}
	return api.Errorf(api.ErrNotFound, "not connected to %s", addr)
}

func (f *Fake) Shares() []api.SharedFile {
	f.Lock()
	defer f.Unlock()
	return slices.Clone(f.SharesV)
}

func (f *Fake) Rescan() error {
	f.Lock()
	defer f.Unlock()
	f.Rescans++
	return nil
}

func (f *Fake) StartSearch(criteria string) (api.SearchInfo, error) {
	f.Lock()
	defer f.Unlock()
	s := api.SearchInfo{
		ID:       fmt.Sprintf("s%d", len(f.searches)+1),
		Criteria: criteria,
		Started:  time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC),
		Results:  len(f.Results),
	}
	for _, r := range f.Filtered {
		if s.Filtered == nil {
			s.Filtered = map[string]int{}
		}
		s.Filtered[r.Reason]++
	}
	f.searches = append(f.searches, &fakeSearch{info: s})
	return s, nil
}

func (f *Fake) Searches() []api.SearchInfo {
	f.Lock()
	defer f.Unlock()
	out := make([]api.SearchInfo, 0, len(f.searches))
	for _, s := range f.searches {
		out = append(out, s.info)
	}
	return out
}

func (f *Fake) SearchResults(id string) (api.SearchInfo, []api.Result, error) {
	f.Lock()
	defer f.Unlock()
	for _, s := range f.searches {
		if s.info.ID == id {
			n := len(f.Results)
			if f.Trickle {
				s.visible = min(s.visible+1, n)
				n = s.visible
			}
			info := s.info
			info.Results = n
			return info, slices.Clone(f.Results[:n]), nil
		}
	}
	return api.SearchInfo{}, nil, api.Errorf(api.ErrNotFound, "no search %s", id)
}

func (f *Fake) Limits() map[string]api.Limit {
	f.Lock()
	defer f.Unlock()
	out := map[string]api.Limit{}
	for _, c := range []string{"upload", "download", "gnet-in", "gnet-out"} {
		out[c] = api.Limit{Cap: f.Caps[c]}
	}
	return out
}

func (f *Fake) SetLimits(caps map[string]int64) error {
	f.Lock()
	defer f.Unlock()
	for c, v := range caps {
		switch c {
		case "upload", "download", "gnet-in", "gnet-out":
		default:
			return api.Errorf(api.ErrInvalid, "no bandwidth class %q", c)
		}
		if f.Caps == nil {
			f.Caps = map[string]int64{}
		}
		f.Caps[c] = v
	}
	return nil
}

func (f *Fake) Browse(req api.BrowseRequest) (api.SearchInfo, error) {
	addr := req.Addr
	if addr == "" {
		addr = fmt.Sprintf("the host of result %d of %s", req.Result, req.SearchID)
	}
	s, err := f.StartSearch("browse " + addr)
	if err != nil {
		return s, err
	}
	f.Lock()
	defer f.Unlock()
	last := f.searches[len(f.searches)-1]
	last.info.Stopped = true // the host's list is all there at once
	return last.info, nil
}

func (f *Fake) FilteredResults(id string) (api.SearchInfo, []api.FilteredResult, error) {
	f.Lock()
	defer f.Unlock()
	for _, s := range f.searches {
		if s.info.ID == id {
			return s.info, slices.Clone(f.Filtered), nil
		}
	}
	return api.SearchInfo{}, nil, api.Errorf(api.ErrNotFound, "no search %s", id)
}

func (f *Fake) StopSearch(id string) error {
	f.Lock()
	defer f.Unlock()
	for _, s := range f.searches {
		if s.info.ID == id {
			s.info.Stopped = true
			f.Stopped = append(f.Stopped, id)
			return nil
		}
	}
	return api.Errorf(api.ErrNotFound, "no search %s", id)
}

func (f *Fake) StartDownload(req api.DownloadRequest) (api.Download, error) {
	f.Lock()
	defer f.Unlock()
	f.DownloadReqs = append(f.DownloadReqs, req)
	var r *api.Result
	for i := range f.Results {
		if (req.SearchID != "" && f.Results[i].N == req.Result) || (req.URN != "" && f.Results[i].URN == req.URN) {
			r = &f.Results[i]
			break
		}
	}
	if r == nil {
		return api.Download{}, api.Errorf(api.ErrNotFound, "no such result")
	}
	d := api.Download{
		ID: fmt.Sprintf("d%d", f.started+1), URN: r.URN, Name: r.Name, Size: r.Size,
		State: api.StateWaiting, Sources: r.Sources,
	}
	f.started++
	f.downloads = append(f.downloads, &fakeDownload{d: d})
	return d, nil
}

func (f *Fake) Downloads() []api.Download {
	f.Lock()
	defer f.Unlock()
	out := make([]api.Download, 0, len(f.downloads))
	for _, fd := range f.downloads {
		steps := f.DownloadSteps
		if len(steps) == 0 {
			steps = []api.Download{{State: api.StateComplete, Done: fd.d.Size}}
		}
		st := steps[min(fd.step, len(steps)-1)]
		fd.step++
		fd.d.State, fd.d.Done, fd.d.Path, fd.d.Error = st.State, st.Done, st.Path, st.Error
		fd.d.ActiveSources, fd.d.RateBytesPerS = st.ActiveSources, st.RateBytesPerS
		out = append(out, fd.d)
	}
	return out
}

func (f *Fake) CancelDownload(id string) error {
	f.Lock()
	defer f.Unlock()
	for i, fd := range f.downloads {
		if fd.d.ID == id { // like the servent: a cancelled download leaves the list
			f.downloads = slices.Delete(f.downloads, i, i+1)
			f.Cancelled = append(f.Cancelled, id)
			return nil
		}
	}
	return api.Errorf(api.ErrNotFound, "no download %s", id)
}

func (f *Fake) Hosts() []api.Host {
	f.Lock()
	defer f.Unlock()
	return slices.Clone(f.HostsV)
}

// CheckReachability answers ReachabilityV.
func (f *Fake) CheckReachability(context.Context) api.Reachability {
	f.Lock()
	defer f.Unlock()
	return f.ReachabilityV
}
