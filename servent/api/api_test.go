package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/servent/servent/servent/api"
	"github.com/servent/servent/servent/api/apitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func fakeBackend() *apitest.Fake {
	return &apitest.Fake{
		StatusV: api.Status{Version: "test", Mode: "leaf", Listen: "127.0.0.1:6346", Peers: 1, SharedFiles: 2, SharedKB: 3, BytesIn: 10, BytesOut: 20,
			Reachability: api.Reachability{TCP: "firewalled", UDP: "unknown", Reason: "TCP: no inbound connection in 12 min and 2 connect-back requests unanswered",
				Advice: "forward TCP and UDP port 6346 to this machine on your router", ExternalAddr: "203.0.113.5:6346"}},
		ReachabilityV: api.Reachability{TCP: "reachable", UDP: "reachable", Reason: "TCP: TCP connect-back from 192.0.2.1:6346 at 12:00:01", Mapping: "UPnP on router 192.168.1.1", Asked: 2},
		PeersV: []api.Peer{{Addr: "127.0.0.2:6346", Mode: "ultrapeer", UserAgent: "gtk-gnutella/1.2.3", Outbound: true,
			Since: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), BytesIn: 1000, BytesOut: 2000, State: api.PeerConnected},
			{Addr: "192.0.2.9:6346", State: api.PeerWaiting, LastError: "connection refused",
				LastErrorAt: time.Date(2026, 11, 25, 12, 1, 0, 0, time.UTC), NextTry: time.Date(2026, 11, 25, 12, 2, 0, 0, time.UTC)}},
		SharesV: []api.SharedFile{{Index: 1, Name: "a.txt", Path: "/s/a.txt", Size: 5, URN: "urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB"}},
		HostsV:  []api.Host{{Addr: "127.0.0.3:6346", Ultrapeer: true}},
		Results: []api.Result{
			{N: 1, Name: "song.ogg", Size: 1234, URN: "urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB", Sources: 2},
			{N: 2, Name: "other.ogg", Size: 99, URN: "urn:sha1:2PHZPWHZRM7JHJ5E2W2VBJ5ZXGIQW76Q", Sources: 1},
		},
	}
}

// startServer runs a real Server on loopback with its files in a temp dir.
func startServer(t *testing.T, b api.Backend) (*api.Server, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := api.Start(context.Background(), api.Config{Addr: "127.0.0.1:0", DataDir: dir, Backend: b})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func rawRequest(t *testing.T, s *api.Server, method, path, body string, hdr map[string]string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+s.Addr()+path, r)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusNoContent {
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b)
}

func TestAPIKey(t *testing.T) {
	s, dir := startServer(t, fakeBackend())
	key := s.Key()
	require.Len(t, key, 64)

	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"missing", nil, 401},
		{"wrong", map[string]string{"X-API-Key": strings.Repeat("0", 64)}, 401},
		{"wrong bearer", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, 401},
		{"basic is not bearer", map[string]string{"Authorization": "Basic " + key}, 401},
		{"right", map[string]string{"X-API-Key": key}, 200},
		{"right bearer", map[string]string{"Authorization": "Bearer " + key}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := rawRequest(t, s, "GET", "/api/status", "", tc.hdr)
			require.Equal(t, tc.want, code, body)
			if code == 401 {
				var e api.Error
				require.NoError(t, json.Unmarshal([]byte(body), &e))
				require.NotEmpty(t, e.Error)
			}
		})
	}
	// Unauthenticated requests learn nothing, not even which paths exist.
	code, _ := rawRequest(t, s, "GET", "/nope", "", nil)
	require.Equal(t, 401, code)

	st, err := os.Stat(filepath.Join(dir, api.KeyFileName))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	b, err := os.ReadFile(filepath.Join(dir, api.KeyFileName))
	require.NoError(t, err)
	require.Equal(t, key+"\n", string(b))
}

func TestKeyReusedAndTightened(t *testing.T) {
	dir := t.TempDir()
	k1, path, err := api.LoadOrCreateKey(dir)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(path, 0o644))
	k2, _, err := api.LoadOrCreateKey(dir)
	require.NoError(t, err)
	require.Equal(t, k1, k2)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// A damaged key is replaced.
	require.NoError(t, os.WriteFile(path, []byte("short\n"), 0o600))
	k3, _, err := api.LoadOrCreateKey(dir)
	require.NoError(t, err)
	require.NotEqual(t, k1, k3)
	require.Len(t, k3, 64)
}

func TestInfoFileLifecycle(t *testing.T) {
	dir := t.TempDir()
	s, err := api.Start(context.Background(), api.Config{Addr: "127.0.0.1:0", DataDir: dir, Backend: fakeBackend()})
	require.NoError(t, err)
	addr, key, err := api.Discover(dir)
	require.NoError(t, err)
	require.Equal(t, s.Addr(), addr)
	require.Equal(t, s.Key(), key)
	require.NoError(t, s.Close())
	_, _, err = api.Discover(dir)
	require.ErrorIs(t, err, api.ErrNoDaemon)

	// The client of a dead address says no daemon.
	c := api.NewClient(addr, key)
	_, err = c.Status(context.Background())
	require.ErrorIs(t, err, api.ErrNoDaemon)
}

func TestStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	s, err := api.Start(ctx, api.Config{Addr: "127.0.0.1:0", DataDir: dir, Backend: fakeBackend()})
	require.NoError(t, err)
	addr := s.Addr()
	cancel()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 2*time.Second, 5*time.Millisecond)
	require.NoError(t, s.Close())
	_, err = os.Stat(filepath.Join(dir, api.InfoFileName))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = api.Start(context.Background(), api.Config{Addr: ln.Addr().String(), DataDir: t.TempDir(), Backend: fakeBackend()})
	require.Error(t, err)
	require.Contains(t, err.Error(), "address already in use")
}

func TestEndpointsJSON(t *testing.T) {
	f := fakeBackend()
	s, _ := startServer(t, f)
	hdr := map[string]string{"X-API-Key": s.Key()}
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string // JSON the answer must equal
	}{
		{"GET", "/api/status", "", 200, `{"version":"test","guid":"","mode":"leaf","listen":"127.0.0.1:6346","started":"0001-01-01T00:00:00Z","uptime_seconds":0,"peers":1,"leaves":0,"shared_files":2,"shared_hashed":0,"shared_kb":3,"bytes_in":10,"bytes_out":20,"msgs_in":0,"msgs_out":0,"searches":0,"downloads":0,"inbound_evicted":0,"inbound_refused":0,"floods":0,"banned":0,"udp":{"enabled":false,"received":0,"bytes_in":0,"sent":0,"bytes_out":0,"rate_limited":0,"malformed":0,"not_accepted":0,"send_budget":0},"reachable":{"tcp":{"reachable":false},"udp_solicited":{"reachable":false},"udp_unsolicited":{"reachable":false}},` +
			`"reachability":{"tcp":"firewalled","udp":"unknown","reason":"TCP: no inbound connection in 12 min and 2 connect-back requests unanswered","advice":"forward TCP and UDP port 6346 to this machine on your router","external_addr":"203.0.113.5:6346","mapping":""},"dynamic_queries":{"running":0,"started":0,"steps":0,"status_asked":0,"guidance":0}}`},
		{"POST", "/api/reachability/check", "", 200, `{"tcp":"reachable","udp":"reachable","reason":"TCP: TCP connect-back from 192.0.2.1:6346 at 12:00:01","mapping":"UPnP on router 192.168.1.1","asked":2}`},
		{"GET", "/api/peers", "", 200, `[{"addr":"127.0.0.2:6346","mode":"ultrapeer","user_agent":"gtk-gnutella/1.2.3","outbound":true,"since":"2026-11-25T12:00:00Z","uptime_seconds":0,"bytes_in":1000,"bytes_out":2000,"msgs_in":0,"msgs_out":0,"compressed":false,"state":"connected"},` +
			`{"addr":"192.0.2.9:6346","mode":"","user_agent":"","outbound":false,"since":"0001-01-01T00:00:00Z","uptime_seconds":0,"bytes_in":0,"bytes_out":0,"msgs_in":0,"msgs_out":0,"compressed":false,` +
			`"state":"waiting","last_error":"connection refused","last_error_at":"2026-11-25T12:01:00Z","next_try":"2026-11-25T12:02:00Z"}]`},
		{"POST", "/api/peers", `{"addr":"10.0.0.1:6346"}`, 202, `{"addr":"10.0.0.1:6346"}`},
		{"POST", "/api/peers", `{"addr":"bad"}`, 400, `{"error":"peer address \"bad\": want HOST:PORT"}`},
		{"POST", "/api/peers", `{}`, 400, `{"error":"addr is required (HOST:PORT)"}`},
		{"POST", "/api/peers", `{"adr":"x"}`, 400, `{"error":"bad JSON: json: unknown field \"adr\""}`},
		{"POST", "/api/peers", ``, 400, `{"error":"request body must be a JSON object"}`},
		{"DELETE", "/api/peers", `{"addr":"127.0.0.2:6346"}`, 200, `{"addr":"127.0.0.2:6346"}`},
		{"DELETE", "/api/peers/127.0.0.2:6346", ``, 200, `{"addr":"127.0.0.2:6346"}`},
		{"DELETE", "/api/peers/127.0.0.9:1", ``, 404, `{"error":"not connected to 127.0.0.9:1"}`},
		{"GET", "/api/shares", "", 200, `[{"index":1,"name":"a.txt","path":"/s/a.txt","size":5,"urn":"urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB"}]`},
		{"POST", "/api/shares/rescan", "", 200, ``},
		{"GET", "/api/searches", "", 200, `[]`},
		{"POST", "/api/searches", `{"criteria":"  "}`, 400, `{"error":"criteria is required"}`},
		{"POST", "/api/searches", `{"criteria":"song"}`, 201, `{"id":"s1","criteria":"song","started":"2026-11-25T13:00:00Z","results":2,"stopped":false}`},
		{"GET", "/api/searches", "", 200, `[{"id":"s1","criteria":"song","started":"2026-11-25T13:00:00Z","results":2,"stopped":false}]`},
		{"GET", "/api/searches/s1", "", 200, `{"id":"s1","criteria":"song","started":"2026-11-25T13:00:00Z","results":2,"stopped":false}`},
		{"GET", "/api/searches/s1/results?after=1", "", 200, `{"search":{"id":"s1","criteria":"song","started":"2026-11-25T13:00:00Z","results":2,"stopped":false},"results":[{"n":2,"name":"other.ogg","size":99,"urn":"urn:sha1:2PHZPWHZRM7JHJ5E2W2VBJ5ZXGIQW76Q","sources":1}]}`},
		{"GET", "/api/searches/s1/results?after=x", "", 400, `{"error":"after must be a result number"}`},
		{"GET", "/api/searches/s9/results", "", 404, `{"error":"no search s9"}`},
		{"DELETE", "/api/searches/s1", "", 204, ``},
		{"DELETE", "/api/searches/s9", "", 404, `{"error":"no search s9"}`},
		{"POST", "/api/downloads", `{}`, 400, `{"error":"give a search_id and result number, an urn, or a magnet"}`},
		{"POST", "/api/downloads", `{"search_id":"s1","result":7}`, 404, `{"error":"no such result"}`},
		{"POST", "/api/downloads", `{"search_id":"s1","result":1}`, 201, `{"id":"d1","urn":"urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB","name":"song.ogg","size":1234,"done":0,"state":"waiting","sources":2,"active_sources":0}`},
		{"GET", "/api/downloads", "", 200, `[{"id":"d1","urn":"urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB","name":"song.ogg","size":1234,"done":1234,"state":"complete","sources":2,"active_sources":0}]`},
		{"GET", "/api/downloads/d1", "", 200, `{"id":"d1","urn":"urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB","name":"song.ogg","size":1234,"done":1234,"state":"complete","sources":2,"active_sources":0}`},
		{"GET", "/api/downloads/d9", "", 404, `{"error":"no download d9"}`},
		{"DELETE", "/api/downloads/d1", "", 204, ``},
		{"DELETE", "/api/downloads/d9", "", 404, `{"error":"no download d9"}`},
		{"GET", "/api/hosts", "", 200, `[{"addr":"127.0.0.3:6346","ultrapeer":true,"last_seen":"0001-01-01T00:00:00Z","failures":0}]`},
		{"GET", "/api/nope", "", 404, `{"error":"no such endpoint: GET /api/nope"}`},
		{"POST", "/api/peers", `{"addr":"` + strings.Repeat("x", 70<<10) + `"}`, 413, `{"error":"request body too large"}`},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			code, body := rawRequest(t, s, tc.method, tc.path, tc.body, hdr)
			require.Equal(t, tc.code, code, body)
			if tc.want != "" {
				require.JSONEq(t, tc.want, body)
			}
		})
	}
	f.Lock()
	defer f.Unlock()
	require.Equal(t, []string{"10.0.0.1:6346"}, f.Added)
	require.Equal(t, []string{"127.0.0.2:6346", "127.0.0.2:6346"}, f.Dropped)
	require.Equal(t, 1, f.Rescans)
	require.Equal(t, []string{"s1"}, f.Stopped)
	require.Equal(t, []string{"d1"}, f.Cancelled)
}

func TestClient(t *testing.T) {
	f := fakeBackend()
	f.Trickle = true
	s, dir := startServer(t, f)
	addr, key, err := api.Discover(dir)
	require.NoError(t, err)
	c := api.NewClient(addr, key)
	ctx := context.Background()

	st, err := c.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, f.StatusV, st)

	peers, err := c.Peers(ctx)
	require.NoError(t, err)
	require.Equal(t, f.PeersV, peers)
	require.NoError(t, c.AddPeer(ctx, "10.0.0.1:6346"))
	err = c.AddPeer(ctx, "bad")
	require.ErrorIs(t, err, api.ErrInvalid)
	require.Equal(t, `peer address "bad": want HOST:PORT`, err.Error())
	require.NoError(t, c.DropPeer(ctx, "127.0.0.2:6346"))
	require.ErrorIs(t, c.DropPeer(ctx, "1.2.3.4:5"), api.ErrNotFound)

	shares, err := c.Shares(ctx)
	require.NoError(t, err)
	require.Equal(t, f.SharesV, shares)
	_, err = c.Rescan(ctx)
	require.NoError(t, err)

	si, err := c.StartSearch(ctx, "song")
	require.NoError(t, err)
	require.Equal(t, "s1", si.ID)
	list, err := c.Searches(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	// Trickled results: each poll with after= gets only the new one.
	r1, err := c.SearchResults(ctx, si.ID, 0)
	require.NoError(t, err)
	require.Equal(t, f.Results[:1], r1.Results)
	r2, err := c.SearchResults(ctx, si.ID, 1)
	require.NoError(t, err)
	require.Equal(t, f.Results[1:], r2.Results)
	require.Equal(t, 2, r2.Search.Results)
	require.NoError(t, c.StopSearch(ctx, si.ID))
	_, err = c.SearchResults(ctx, "zz", 0)
	require.ErrorIs(t, err, api.ErrNotFound)

	d, err := c.StartDownload(ctx, api.DownloadRequest{URN: f.Results[1].URN})
	require.NoError(t, err)
	require.Equal(t, "other.ogg", d.Name)
	d, err = c.Download(ctx, d.ID)
	require.NoError(t, err)
	require.True(t, d.Finished())
	ds, err := c.Downloads(ctx)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.NoError(t, c.CancelDownload(ctx, d.ID))

	hosts, err := c.Hosts(ctx)
	require.NoError(t, err)
	require.Equal(t, f.HostsV, hosts)

	bad := api.NewClient(s.Addr(), "wrong")
	_, err = bad.Status(ctx)
	require.ErrorIs(t, err, api.ErrAuth)
	var se *api.StatusError
	require.True(t, errors.As(err, &se))
	require.Equal(t, 401, se.Code)
}

func TestClientAddr(t *testing.T) {
	require.Equal(t, "127.0.0.1:6347", api.ClientAddr("0.0.0.0:6347"))
	require.Equal(t, "[::1]:6347", api.ClientAddr("[::]:6347"))
	require.Equal(t, "127.0.0.1:6347", api.ClientAddr(":6347"))
	require.Equal(t, "10.1.2.3:6347", api.ClientAddr("10.1.2.3:6347"))
}

type panicky struct{ *apitest.Fake }

func (panicky) Hosts() []api.Host { panic("boom") }

func TestPanicIs500(t *testing.T) {
	s, _ := startServer(t, panicky{fakeBackend()})
	code, body := rawRequest(t, s, "GET", "/api/hosts", "", map[string]string{"X-API-Key": s.Key()})
	require.Equal(t, 500, code)
	require.JSONEq(t, `{"error":"internal error in the servent: boom"}`, body)
}

// TestStartWithDoneContext: a context that is already done stops the server
// at once; its callback ran while Start was still storing it (a data race
// the race detector saw in TestRunDefaults).
func TestStartWithDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	s, err := api.Start(ctx, api.Config{Addr: "127.0.0.1:0", DataDir: dir, Backend: fakeBackend()})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = api.NewClient(s.Addr(), s.Key()).Status(context.Background())
	require.Error(t, err, "the server stopped with its context")
}
