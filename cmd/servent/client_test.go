package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/servent/servent/servent/api"
	"github.com/servent/servent/servent/api/apitest"
)

func TestMain(m *testing.M) {
	// Tests talk to loopback only: no router discovery (SSDP multicast,
	// NAT-PMP to the gateway) from any daemon they run, in process or not.
	os.Setenv("SERVENT_NAT", "off")
	// The test binary doubles as the servent binary for the tests of main().
	if os.Getenv("SERVENT_TEST_MAIN") == "1" {
		os.Args = append([]string{"servent"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	pollInterval = 5 * time.Millisecond
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("os/signal.signal_recv"), goleak.IgnoreTopFunction("os/signal.loop"))
}

// runCLI runs the app in process as `servent args...`.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errOut
	err = app.Run(append([]string{"servent"}, args...))
	return out.String(), errOut.String(), err
}

const (
	urn1 = "urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB"
	urn2 = "urn:sha1:2PHZPWHZRM7JHJ5E2W2VBJ5ZXGIQW76Q"
)

func newFake() *apitest.Fake {
	return &apitest.Fake{
		StatusV: api.Status{Version: "0.1.0-test", Mode: "leaf", Listen: "[::]:6346", UptimeSeconds: 3725,
			IPv4: "203.0.113.5:6346", IPv6: "[2001:db8::5]:6346", Links: map[string]int{"ipv4": 1, "ipv6": 1, "tls": 1},
			UDP: api.UDP{Enabled: true, Addr: "0.0.0.0:6346", Received: 40, BytesIn: 3072, Sent: 38, BytesOut: 2950, Malformed: 1, NotAccepted: 2},
			Reachable: api.Reachable{
				TCP:          api.ReachProof{Reachable: true, LastProof: &reachAt, From: "198.51.100.7:6346", Source: "connect_back"},
				UDPSolicited: api.ReachProof{LastProof: &reachAt, From: "198.51.100.7:6346", Source: "connect_back"},
			},
			Reachability: api.Reachability{TCP: "reachable", UDP: "unknown", ExternalAddr: "203.0.113.5:6346",
				Reason: "TCP: TCP connect-back from 198.51.100.7:6346 at 13:58:10; UDP: no datagram from a host we did not ask yet"},
			Peers: 2, SharedFiles: 3, SharedKB: 2048, BytesIn: 1536, BytesOut: 3 << 20, MsgsIn: 12, MsgsOut: 34},
		PeersV: []api.Peer{
			{Addr: "127.0.0.2:6346", Mode: "ultrapeer", UserAgent: "gtk-gnutella/1.2.3", Outbound: true, UptimeSeconds: 65, BytesIn: 2048, BytesOut: 100, Family: "ipv4", TLS: true},
			{Addr: "[::1]:6346", Mode: "ultrapeer", UserAgent: "servent/0.1", UptimeSeconds: 7200, BytesIn: 0, BytesOut: 5 << 20, Family: "ipv6"},
		},
		SharesV: []api.SharedFile{{Index: 1, Name: "a.txt", Path: "/s/a.txt", Size: 5, URN: urn1}, {Index: 2, Name: "b.bin", Path: "/s/b.bin", Size: 3 << 20}},
		HostsV:  []api.Host{{Addr: "127.0.0.3:6346", Ultrapeer: true, LastSeen: time.Now().Add(-time.Minute), Failures: 1}},
		Results: []api.Result{
			{N: 1, Name: "a song.ogg", Size: 4 << 20, URN: urn1, Sources: 3},
			{N: 2, Name: strings.Repeat("long name ", 10) + ".txt", Size: 100, URN: urn2, Sources: 1},
		},
	}
}

// startDaemon serves the API of f with its files in a new data folder.
func startDaemon(t *testing.T, f *apitest.Fake) string {
	t.Helper()
	dir := t.TempDir()
	s, err := api.Start(context.Background(), api.Config{Addr: "127.0.0.1:0", DataDir: dir, Backend: f})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return dir
}

func TestSearch(t *testing.T) {
	f := newFake()
	f.Trickle = true
	dir := startDaemon(t, f)
	out, errOut, err := runCLI(t, "search", "--data", dir, "--wait", "200ms", "a", "song")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 3, out)
	require.Regexp(t, `^\s+N\s+NAME\s+SIZE\s+SRC\s+URN$`, lines[0])
	require.Regexp(t, `^\s+1\s+a song\.ogg\s+4\.0 MiB\s+3\s+`+urn1+`$`, lines[1])
	require.Regexp(t, `^\s+2\s+long name .*…\s+100 B\s+1\s+`+urn2+`$`, lines[2])
	require.Contains(t, errOut, `searching for "a song"`)
	require.Contains(t, errOut, "2 results; download one with `servent get --data "+dir+" N`")

	ls, err := loadLastSearch(dir)
	require.NoError(t, err)
	require.Equal(t, "s1", ls.SearchID)
	require.Equal(t, f.Results, ls.Results)
	require.Equal(t, "a song", f.Searches()[0].Criteria)
}

func TestSearchJSON(t *testing.T) {
	f := newFake()
	dir := startDaemon(t, f)
	// Flags also come from SERVENT_* variables.
	t.Setenv("SERVENT_DATA", dir)
	t.Setenv("SERVENT_WAIT", "20ms")
	out, errOut, err := runCLI(t, "search", "--json", "song")
	require.NoError(t, err)
	require.Empty(t, errOut)
	var got api.SearchResults
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, "song", got.Search.Criteria)
	require.Equal(t, f.Results, got.Results)
}

// TestSearchShowFiltered: --show-filtered lists what the filter dropped,
// names made safe for the terminal.
func TestSearchShowFiltered(t *testing.T) {
	f := newFake()
	f.Filtered = []api.FilteredResult{
		{Reason: "echoes-query", Name: "a song.exe", Size: 1 << 20, From: "198.51.100.7:6346", Vendor: "SPAM"},
		{Reason: "hostile", Name: "evil\x1b[2Jname.mp3", Size: 10, From: "203.0.113.9:6346"},
	}
	dir := startDaemon(t, f)
	out, errOut, err := runCLI(t, "search", "--data", dir, "--wait", "10ms", "--show-filtered", "a", "song")
	require.NoError(t, err)
	require.Contains(t, errOut, "filtered out as spam or hostile: 2 results (echoes-query 1, hostile 1)")
	require.Regexp(t, `(?m)^filtered out:\nREASON\s+NAME\s+SIZE\s+FROM$`, out)
	require.Regexp(t, `(?m)^echoes-query\s+a song\.exe\s+1\.0 MiB\s+198\.51\.100\.7:6346$`, out)
	require.Regexp(t, `(?m)^hostile\s+evil.*name\.mp3\s+10 B\s+203\.0\.113\.9:6346$`, out)
	require.NotContains(t, out, "\x1b")

	out, _, err = runCLI(t, "search", "--data", dir, "--wait", "10ms", "--show-filtered", "--json", "a", "song")
	require.NoError(t, err)
	var got struct {
		api.SearchResults
		Filtered []api.FilteredResult `json:"filtered"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, f.Filtered, got.Filtered)
}

func TestSearchNothing(t *testing.T) {
	f := newFake()
	f.Results = nil
	f.StatusV.Peers = 0
	dir := startDaemon(t, f)
	out, errOut, err := runCLI(t, "search", "--data", dir, "--wait", "10ms", "zzz")
	require.NoError(t, err)
	require.Empty(t, out)
	require.Contains(t, errOut, "warning: not connected to any peer yet")
	require.Contains(t, errOut, "no results: the servent is not connected to any peer")
}

func TestGetByNumber(t *testing.T) {
	f := newFake()
	f.DownloadSteps = []api.Download{
		{State: api.StateDownloading, Done: 1 << 20, ActiveSources: 2},
		{State: api.StateDownloading, Done: 3 << 20, ActiveSources: 3},
		{State: api.StateVerifying, Done: 4 << 20},
		{State: api.StateComplete, Done: 4 << 20, Path: "/dl/a song.ogg"},
	}
	dir := startDaemon(t, f)
	_, _, err := runCLI(t, "search", "--data", dir, "--wait", "10ms", "song")
	require.NoError(t, err)

	out, errOut, err := runCLI(t, "get", "--data", dir, "1")
	require.NoError(t, err)
	require.Equal(t, "downloaded /dl/a song.ogg (4.0 MiB), verified "+urn1+"\n", out)
	// Not a terminal: one progress line per step.
	require.Contains(t, errOut, "a song.ogg [")
	require.Contains(t, errOut, " 25%  1.0 MiB/4.0 MiB")
	require.Contains(t, errOut, " 75%  3.0 MiB/4.0 MiB")
	require.Contains(t, errOut, "100%  4.0 MiB/4.0 MiB")
	require.Contains(t, errOut, "verifying")
	f.Lock()
	require.Equal(t, []api.DownloadRequest{{SearchID: "s1", Result: 1, URN: urn1, Name: "a song.ogg", Size: 4 << 20}}, f.DownloadReqs)
	f.Unlock()

	_, _, err = runCLI(t, "get", "--data", dir, "7")
	require.EqualError(t, err, `no result 7 in the last search for "song" (it has 2)`)
}

func TestGetByURNDetached(t *testing.T) {
	f := newFake()
	dir := startDaemon(t, f)
	out, _, err := runCLI(t, "get", "--data", dir, "--detach", "--json", strings.ToLower(urn2))
	require.NoError(t, err)
	var d api.Download
	require.NoError(t, json.Unmarshal([]byte(out), &d))
	require.Equal(t, "d1", d.ID)
	require.Equal(t, urn2, d.URN)
	f.Lock()
	require.Equal(t, []api.DownloadRequest{{URN: urn2}}, f.DownloadReqs)
	f.Unlock()

	out, _, err = runCLI(t, "get", "--data", dir, "--detach", urn1)
	require.NoError(t, err)
	require.Equal(t, "downloading a song.ogg (4.0 MiB) as d2; follow it with `servent downloads --data "+dir+"`\n", out)
}

func TestGetFails(t *testing.T) {
	f := newFake()
	f.DownloadSteps = []api.Download{{State: api.StateFailed, Error: "every source failed verification"}}
	dir := startDaemon(t, f)
	_, _, err := runCLI(t, "get", "--data", dir, urn1)
	require.EqualError(t, err, "download of a song.ogg failed: every source failed verification")
	require.Equal(t, exitFailure, exitCode(err))

	_, _, err = runCLI(t, "get", "--data", dir, "urn:sha1:XYZ")
	require.Equal(t, exitUsage, exitCode(err))
	_, _, err = runCLI(t, "get", "--data", dir, "0")
	require.Equal(t, exitUsage, exitCode(err))
	// No search yet in a fresh data folder.
	_, _, err = runCLI(t, "get", "--data", dir, "1")
	require.ErrorContains(t, err, "no recent search")
}

var reachAt = time.Date(2026, 11, 25, 13, 58, 10, 0, time.UTC)

func TestStatus(t *testing.T) {
	dir := startDaemon(t, newFake())
	out, _, err := runCLI(t, "status", "--data", dir)
	require.NoError(t, err)
	require.Equal(t, `servent 0.1.0-test, leaf, up 1h02m, listening on [::]:6346
address:   203.0.113.5:6346, [2001:db8::5]:6346
peers:     2; links 1 ipv4, 1 ipv6, 1 over tls
shared:    3 files, 2.0 MiB
traffic:   in 1.5 KiB (12 messages), out 3.0 MiB (34 messages)
searches:  0, downloads: 0
udp:       on 0.0.0.0:6346, in 40 (3.0 KiB), out 38 (2.9 KiB), dropped 0 rate-limited, 1 malformed, 2 not taken; 0 not sent (budget)
reachable: tcp yes (connect_back from 198.51.100.7:6346 at 2026-11-25 13:58:10); udp solicited expired (connect_back from 198.51.100.7:6346 at 2026-11-25 13:58:10); udp unsolicited unknown
verdict:   tcp reachable, udp unknown, seen as 203.0.113.5:6346
why:       TCP: TCP connect-back from 198.51.100.7:6346 at 13:58:10; UDP: no datagram from a host we did not ask yet
`, out)

	// --data before the command works too.
	out, _, err = runCLI(t, "--data", dir, "status", "--json")
	require.NoError(t, err)
	var st api.Status
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, newFake().StatusV, st)
}

// TestUICommand: `servent ui` prints a one-time link that opens a browser
// session, and says what to do when it cannot open a browser itself.
func TestUICommand(t *testing.T) {
	dir := startDaemon(t, newFake())
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	out, errOut, err := runCLI(t, "ui", "--data", dir)
	require.NoError(t, err)
	link := strings.TrimSpace(out)
	require.Regexp(t, `^http://127\.0\.0\.1:\d+/ui/login\?token=[0-9a-f]{48}$`, link)
	require.Contains(t, errOut, "open the link above in a browser on this machine (no graphical session)")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(link)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.NotEmpty(t, resp.Cookies())
	resp, err = c.Get(link)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "once only")

	out, errOut, err = runCLI(t, "ui", "--data", dir, "--no-open")
	require.NoError(t, err)
	require.Empty(t, errOut)
	require.NotEqual(t, link, strings.TrimSpace(out))
}

// TestLimits: `servent limits set` changes only the caps named, `servent
// limits` shows them, and a bad rate is refused before the daemon is asked.
func TestLimits(t *testing.T) {
	f := newFake()
	dir := startDaemon(t, f)
	out, _, err := runCLI(t, "limits", "set", "--data", dir, "--max-upload", "100k", "--max-gnet-out", "1.5MiB")
	require.NoError(t, err)
	require.Equal(t, "upload    0 B/s of 100.0 KiB/s\ndownload  0 B/s (no cap)\ngnet-in   0 B/s (no cap)\ngnet-out  0 B/s of 1.5 MiB/s\n", out)
	_, _, err = runCLI(t, "limits", "set", "--data", dir, "--max-upload", "off")
	require.NoError(t, err)
	out, _, err = runCLI(t, "limits", "--data", dir)
	require.NoError(t, err)
	require.Contains(t, out, "upload    0 B/s (no cap)\n")
	require.Contains(t, out, "gnet-out  0 B/s of 1.5 MiB/s\n")
	_, _, err = runCLI(t, "limits", "set", "--data", dir, "--max-download", "fast")
	require.ErrorContains(t, err, "--max-download")
}

func TestDQLine(t *testing.T) {
	assert.Empty(t, dqLine(api.DQ{}))
	assert.Equal(t, "dynamic queries: 4 started, 1 running, 9 ultrapeers queried one by one, leaves asked 3 times and answered 2; ended: cancelled 1, enough 2",
		dqLine(api.DQ{Running: 1, Started: 4, Steps: 9, StatusAsked: 3, Guidance: 2, Ended: map[string]uint64{"enough": 2, "cancelled": 1}}))
}

// TestDoctor: the verdict line, the reasons and the advice for each
// verdict, and the exit code: 0 only when reachable over TCP.
func TestDoctor(t *testing.T) {
	for _, c := range []struct {
		name  string
		r     api.Reachability
		first string
		exit  int
	}{
		{"reachable", api.Reachability{TCP: "reachable", UDP: "reachable", Reason: "TCP: TCP connect-back from 198.51.100.7:6346 at 13:58:10", Mapping: "UPnP on router 192.168.1.1", Asked: 1},
			"reachable over TCP and UDP: others can download from you and send you results directly", 0},
		{"firewalled", api.Reachability{TCP: "firewalled", UDP: "firewalled", Reason: "TCP: no inbound connection in 12 min and 2 connect-back requests unanswered",
			Advice: "forward TCP and UDP port 6346 to this machine on your router, or enable UPnP or NAT-PMP on it", Asked: 2},
			"firewalled: others cannot connect to you; downloads from you go through pushes", exitFailure},
		{"unknown, nobody to ask", api.Reachability{TCP: "unknown", UDP: "unknown", Reason: "TCP: no inbound connection yet"},
			"unknown: no connected peer offers a connect-back test (connect to a peer first, e.g. `servent peers add HOST:PORT`)", exitFailure},
		{"unknown, no answer", api.Reachability{TCP: "unknown", UDP: "unknown", Reason: "TCP: no inbound connection yet", Asked: 3},
			"not reachable yet: 3 peers asked to connect back, none did within 20 s", exitFailure},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			f.ReachabilityV = c.r
			dir := startDaemon(t, f)
			out, _, err := runCLI(t, "doctor", "--data", dir)
			assert.Equal(t, c.exit, exitCode(err))
			lines := strings.Split(out, "\n")
			require.GreaterOrEqual(t, len(lines), 4)
			assert.Equal(t, c.first, lines[1])
			assert.Contains(t, out, "why:       "+c.r.Reason)
			if c.r.Advice != "" {
				assert.Contains(t, out, "advice:    "+c.r.Advice)
			}
			if c.r.Mapping != "" {
				assert.Contains(t, out, "port mapped by "+c.r.Mapping)
			}
		})
	}
}

func TestPeers(t *testing.T) {
	f := newFake()
	dir := startDaemon(t, f)
	out, _, err := runCLI(t, "peers", "--data", dir)
	require.NoError(t, err)
	require.Equal(t, `127.0.0.2:6346  ultrapeer  outbound ipv4 tls  up 1m05s  in 2.0 KiB  out 100 B    gtk-gnutella/1.2.3
[::1]:6346      ultrapeer  inbound ipv6       up 2h00m  in 0 B      out 5.0 MiB  servent/0.1
`, out)

	out, _, err = runCLI(t, "peers", "add", "--detach", "--data", dir, "10.0.0.1:6346")
	require.NoError(t, err)
	require.Equal(t, "connecting to 10.0.0.1:6346 (see `servent peers`)\n", out)
	// The fake never reports an outcome: the wait ends first.
	out, _, err = runCLI(t, "peers", "add", "--wait", "1ms", "--data", dir, "10.0.0.1:6346")
	require.NoError(t, err)
	require.Equal(t, "still connecting to 10.0.0.1:6346 (see `servent peers`)\n", out)
	_, _, err = runCLI(t, "peers", "drop", "--data", dir, "127.0.0.2:6346")
	require.NoError(t, err)
	_, _, err = runCLI(t, "peers", "drop", "--data", dir, "127.0.0.9:6346")
	require.EqualError(t, err, "not connected to 127.0.0.9:6346")
	_, _, err = runCLI(t, "peers", "add", "--data", dir, "nohost")
	require.EqualError(t, err, `"nohost" is not HOST:PORT`)
	require.Equal(t, exitUsage, exitCode(err))
	f.Lock()
	require.Equal(t, []string{"10.0.0.1:6346", "10.0.0.1:6346"}, f.Added)
	require.Equal(t, []string{"127.0.0.2:6346"}, f.Dropped)
	f.Unlock()

	out, _, err = runCLI(t, "peers", "--data", dir, "--json")
	require.NoError(t, err)
	var peers []api.Peer
	require.NoError(t, json.Unmarshal([]byte(out), &peers))
	require.Equal(t, f.PeersV, peers)
}

func TestSharesDownloadsHosts(t *testing.T) {
	f := newFake()
	dir := startDaemon(t, f)
	out, _, err := runCLI(t, "shares", "--data", dir)
	require.NoError(t, err)
	require.Equal(t, `INDEX  SIZE     URN                                        PATH
1      5 B      urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB  /s/a.txt
2      3.0 MiB  (hashing)                                  /s/b.bin
`, out)
	out, _, err = runCLI(t, "shares", "rescan", "--data", dir)
	require.NoError(t, err)
	require.Equal(t, "rescanned: 3 files, 2.0 MiB\n", out)

	out, _, err = runCLI(t, "downloads", "--data", dir)
	require.NoError(t, err)
	require.Contains(t, out, "no downloads")
	_, _, err = runCLI(t, "get", "--data", dir, "--detach", urn1)
	require.NoError(t, err)
	out, _, err = runCLI(t, "downloads", "--data", dir)
	require.NoError(t, err)
	require.Equal(t, `ID  STATE     DONE  SIZE     SOURCES  NAME
d1  complete  100%  4.0 MiB  0/3      a song.ogg
`, out)
	out, _, err = runCLI(t, "downloads", "cancel", "--data", dir, "d1")
	require.NoError(t, err)
	require.Equal(t, "cancelled d1\n", out)

	out, _, err = runCLI(t, "hosts", "--data", dir)
	require.NoError(t, err)
	require.Regexp(t, `^ADDRESS\s+KIND\s+LAST SEEN\s+FAILURES\n127\.0\.0\.3:6346\s+ultrapeer\s+1m0\ds ago\s+1\n$`, out)
}

func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"status"}, {"peers"}, {"search", "x"}, {"get", "1"}, {"shares"}, {"downloads"}, {"hosts"},
	} {
		_, _, err := runCLI(t, append([]string{"--data", dir}, args...)...)
		require.Error(t, err, args)
		require.Equal(t, noDaemonMsg, oneLine(err), args)
		require.Equal(t, exitFailure, exitCode(err))
	}
	// A servent that died without cleaning up: its files point nowhere.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	_, err = api.WriteInfo(dir, api.Info{Addr: addr})
	require.NoError(t, err)
	_, _, err = api.LoadOrCreateKey(dir)
	require.NoError(t, err)
	_, _, err = runCLI(t, "status", "--data", dir)
	require.Equal(t, noDaemonMsg, oneLine(err))
}

func TestWrongKey(t *testing.T) {
	dir := startDaemon(t, newFake())
	_, _, err := runCLI(t, "status", "--data", dir, "--api-key", strings.Repeat("a", 64))
	require.ErrorIs(t, err, api.ErrAuth)
	require.Contains(t, oneLine(err), "refused the API key")
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--frob"}, "flag provided but not defined: -frob (see `servent --help`)"},
		{[]string{"frob"}, "unknown command \"frob\" (see `servent --help`)"},
		{[]string{"search", "--frob", "x"}, "flag provided but not defined: -frob (see `servent search --help`)"},
		{[]string{"peers", "add", "--nope"}, "flag provided but not defined: -nope (see `servent peers add --help`)"},
		{[]string{"search", "--wait", "soon", "x"}, "invalid value \"soon\" for flag -wait: parse error (see `servent search --help`)"},
		{[]string{"search", "--data", dir}, "give keywords to search for: servent search KEYWORDS..."},
		{[]string{"get", "--data", dir}, "give one result number of the last `servent search`, or an urn:sha1:..."},
		{[]string{"search", "x", "--nope"}, "flag provided but not defined: -nope (see `servent search --help`)"},
		{[]string{"search", "x", "--wait"}, "flag needs an argument: -wait (see `servent search --help`)"},
		{[]string{"search", "x", "--wait", "soon"}, "invalid value \"soon\" for flag -wait (see `servent search --help`)"},
	} {
		out, errOut, err := runCLI(t, tc.args...)
		require.Error(t, err, tc.args)
		require.Equal(t, tc.want, oneLine(err), tc.args)
		require.Equal(t, exitUsage, exitCode(err), tc.args)
		require.Empty(t, out, "no help page dumped for %v", tc.args)
		require.Empty(t, errOut)
	}
}

// TestMainOneLine runs the real main(): errors are one line on stderr, a
// non-zero exit code, and no stack trace.
func TestMainOneLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "--data", dir}, 1, "servent: " + noDaemonMsg + "\n"},
		{[]string{"search", "--nope"}, 2, "servent: flag provided but not defined: -nope (see `servent search --help`)\n"},
	} {
		cmd := exec.Command(os.Args[0], tc.args...)
		cmd.Env = append(os.Environ(), "SERVENT_TEST_MAIN=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "%v: %v", tc.args, err)
		require.Equal(t, tc.code, ee.ExitCode())
		require.Equal(t, tc.want, stderr.String())
		require.Empty(t, stdout.String())
	}
}

func TestOneLineErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = net.Listen("tcp", ln.Addr().String())
	require.Equal(t, "address "+ln.Addr().String()+" already in use (another servent running? pick another address with --listen or --api)", oneLine(err))

	if os.Geteuid() != 0 { // root reads everything
		d := filepath.Join(t.TempDir(), "locked")
		require.NoError(t, os.Mkdir(d, 0))
		_, err = os.ReadDir(d)
		require.Equal(t, d+": permission denied", oneLine(err))
	}
	_, err = os.ReadDir(filepath.Join(t.TempDir(), "gone"))
	require.Contains(t, oneLine(err), "no such file or directory")
	require.Equal(t, "a; b", oneLine(errors.New("a\nb\n")))
	require.Equal(t, `listen "x": bad`, oneLine(errors.New(`servent: listen "x": bad`)))
}

// Flags may follow the arguments, as people type them; "--" ends flags.
func TestLateFlags(t *testing.T) {
	f := newFake()
	dir := startDaemon(t, f)
	out, _, err := runCLI(t, "search", "free", "song", "--data", dir, "--json", "--wait=10ms", "-w", "20ms")
	require.NoError(t, err)
	var got api.SearchResults
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, "free song", got.Search.Criteria)
	_, _, err = runCLI(t, "search", "--data", dir, "--wait", "10ms", "--", "-minus", "--json")
	require.NoError(t, err)
	require.Equal(t, "-minus --json", f.Searches()[1].Criteria)
	out, _, err = runCLI(t, "get", "1", "--data", dir, "--detach")
	require.NoError(t, err)
	require.Contains(t, out, "downloading ")
	out, _, err = runCLI(t, "peers", "add", "10.0.0.1:6346", "--data", dir, "--detach")
	require.NoError(t, err)
	require.Equal(t, "connecting to 10.0.0.1:6346 (see `servent peers`)\n", out)
}
