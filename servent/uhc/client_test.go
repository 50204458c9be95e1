package uhc

import (
	"net/netip"
	"testing"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/stretchr/testify/require"
)

func TestClientAsksOnlyWhenNeeded(t *testing.T) {
	c := NewClient([]Cache{{Kind: UDP, Name: "uhc.example:6346"}})
	_, ok := c.Next(t0, false)
	require.False(t, ok, "enough hosts: no cache asked")
	p, ok := c.Next(t0, true)
	require.True(t, ok)
	require.Equal(t, UDP, p.Kind)
	require.Equal(t, "uhc.example:6346", p.Name)
	require.NotEqual(t, protocol.GUID{}, p.MUID)
}

func TestClientNoCachesNoProbe(t *testing.T) {
	c := NewClient(nil)
	_, ok := c.Next(t0, true)
	require.False(t, ok, "no built-in list: nothing named, nothing asked")
}

// One request at a time; a cache not answering within PingTimeout hands
// over to the next one, and is not asked again before its backoff, which
// doubles with each silence.
func TestClientTimeoutBackoffAndRoundRobin(t *testing.T) {
	c := NewClient([]Cache{{Kind: UDP, Name: "a:1"}, {Kind: UDP, Name: "b:2"}})
	p, ok := c.Next(t0, true)
	require.True(t, ok)
	require.Equal(t, "a:1", p.Name)
	c.Sent(p, ap("192.0.2.1:1"), t0)
	_, ok = c.Next(t0.Add(PingTimeout-time.Second), true)
	require.False(t, ok, "a ping is in flight")

	now := t0.Add(PingTimeout)
	p, ok = c.Next(now, true)
	require.True(t, ok, "timed out: the next cache")
	require.Equal(t, "b:2", p.Name)
	c.Failed("b:2", now) // its name did not resolve

	_, ok = c.Next(now.Add(time.Second), true)
	require.False(t, ok, "both backing off")
	require.Equal(t, 1, c.Caches()[0].Failures)

	// a is due UHCRetry after its failure, b too (one failure each)
	now = t0.Add(PingTimeout + UHCRetry)
	p, ok = c.Next(now, true)
	require.True(t, ok)
	require.Equal(t, "a:1", p.Name)
	c.Failed("a:1", now)
	p, ok = c.Next(now, true)
	require.True(t, ok)
	require.Equal(t, "b:2", p.Name)
	c.Failed("b:2", now)
	_, ok = c.Next(now.Add(UHCRetry), true)
	require.False(t, ok, "second silence: the wait doubled")
	p, ok = c.Next(now.Add(2*UHCRetry), true)
	require.True(t, ok)
	require.Equal(t, "a:1", p.Name)
	require.Equal(t, 2*UHCRetry, retry(UDP, 2))
	require.Equal(t, UHCRetryMax, retry(UDP, 30))
}

// Only a Pong answering our ping (its MUID, from the IP pinged) counts;
// it ends the request and resets the cache's failures.
func TestClientPongMatching(t *testing.T) {
	c := NewClient([]Cache{{Kind: UDP, Name: "uhc:6346", Failures: 3}})
	p, _ := c.Next(t0, true)
	to := ap("192.0.2.7:6346")
	c.Sent(p, to, t0)

	_, ok := c.Pong(to, protocol.NewGUID(), t0.Add(time.Second))
	require.False(t, ok, "unsolicited Pong: another MUID")
	_, ok = c.Pong(ap("192.0.2.8:6346"), p.MUID, t0.Add(time.Second))
	require.False(t, ok, "our MUID from another IP")

	name, ok := c.Pong(ap("192.0.2.7:9999"), p.MUID, t0.Add(time.Second))
	require.True(t, ok, "from the IP pinged (any port)")
	require.Equal(t, "uhc:6346", name)
	_, ok = c.Pong(to, p.MUID, t0.Add(2*time.Second))
	require.False(t, ok, "answered once only")

	cs := c.Caches()
	require.Equal(t, 0, cs[0].Failures)
	require.Equal(t, t0.Add(time.Second), cs[0].LastAnswer)
	_, ok = c.Next(t0.Add(UHCRetry-time.Second), true)
	require.False(t, ok, "an answered cache still waits UHCRetry")
	_, ok = c.Next(t0.Add(time.Second+UHCRetry), true)
	require.True(t, ok)
}

func TestClientLateAnswer(t *testing.T) {
	c := NewClient([]Cache{{Kind: UDP, Name: "uhc:6346"}})
	p, _ := c.Next(t0, true)
	to := ap("192.0.2.7:6346")
	c.Sent(p, to, t0)
	_, _ = c.Next(t0.Add(PingTimeout), true) // timed out
	_, ok := c.Pong(to, p.MUID, t0.Add(LateAnswer-time.Second))
	require.True(t, ok, "a late answer is still taken")

	p, _ = c.Next(t0.Add(LateAnswer+UHCRetry), true)
	c.Sent(p, to, t0.Add(LateAnswer+UHCRetry))
	_, ok = c.Pong(to, p.MUID, t0.Add(2*LateAnswer+UHCRetry))
	require.False(t, ok, "too late")
}

func TestClientUDPBeforeWeb(t *testing.T) {
	c := NewClient([]Cache{{Kind: Web, Name: "http://gwc.example/"}, {Kind: UDP, Name: "uhc:1"}})
	p, ok := c.Next(t0, true)
	require.True(t, ok)
	require.Equal(t, UDP, p.Kind)
	c.Failed(p.Name, t0)
	p, ok = c.Next(t0, true)
	require.True(t, ok)
	require.Equal(t, Web, p.Kind)
	require.Equal(t, protocol.GUID{}, p.MUID)
	_, ok = c.Next(t0, true)
	require.False(t, ok, "the web request is under way")
	c.Answered(p.Name, t0.Add(time.Second))
	now := t0.Add(UHCRetry)
	p, ok = c.Next(now, true)
	require.True(t, ok)
	require.Equal(t, UDP, p.Kind, "the UDP cache is due again first")
	c.Failed(p.Name, now)
	_, ok = c.Next(now, true)
	require.False(t, ok, "the web cache waits GWCRetry after its answer")
	now = t0.Add(time.Second + GWCRetry)
	p, ok = c.Next(now, true)
	require.True(t, ok)
	require.Equal(t, UDP, p.Kind)
	c.Failed(p.Name, now)
	p, ok = c.Next(now, true)
	require.True(t, ok)
	require.Equal(t, Web, p.Kind)
}

func TestClientAddMerges(t *testing.T) {
	c := NewClient([]Cache{{Kind: UDP, Name: "a:1"}, {Kind: UDP, Name: "a:1"}, {Kind: Web, Name: "a:1"}, {Name: "x:1"}})
	c.Add(Cache{Kind: UDP, Name: "a:1", LastAnswer: t0, Failures: 2})
	cs := c.Caches()
	require.Len(t, cs, 2)
	require.Equal(t, t0, cs[0].LastAnswer)
	require.Equal(t, 2, cs[0].Failures)
}

func TestClientPendingBounded(t *testing.T) {
	c := NewClient(nil)
	for i := range 10 * maxPending {
		c.Sent(Probe{Kind: UDP, Name: "x", MUID: protocol.NewGUID()}, netip.MustParseAddrPort("192.0.2.1:1"), t0.Add(time.Duration(i)*time.Millisecond))
	}
	require.LessOrEqual(t, len(c.pings), maxPending)
}

func TestClientNextUpdate(t *testing.T) {
	c := NewClient([]Cache{{Kind: UDP, Name: "u:1"}, {Kind: Web, Name: "http://a/"}, {Kind: Web, Name: "http://b/"}})
	_, ok := c.NextUpdate(t0, false)
	require.False(t, ok, "not serving: no update")
	var got []string
	for {
		name, ok := c.NextUpdate(t0, true)
		if !ok {
			break
		}
		got = append(got, name)
	}
	require.Equal(t, []string{"http://a/", "http://b/"}, got, "each web cache once")
	_, ok = c.NextUpdate(t0.Add(GWCRetry-time.Second), true)
	require.False(t, ok)
	name, ok := c.NextUpdate(t0.Add(GWCRetry), true)
	require.True(t, ok)
	require.Equal(t, "http://a/", name)
}

// Forgetting old pings when too many are pending does not count a
// failure against the cache being asked.
func TestClientPendingOverflowKeepsBusy(t *testing.T) {
	c := NewClient([]Cache{{Kind: UDP, Name: "a:1"}})
	p, _ := c.Next(t0, true)
	for range maxPending + 1 {
		c.Sent(Probe{Kind: UDP, Name: "a:1", MUID: protocol.NewGUID()}, ap("192.0.2.1:1"), t0)
	}
	require.Zero(t, c.Caches()[0].Failures)
	_, ok := c.Next(t0.Add(time.Second), true)
	require.False(t, ok, "still asking a:1")
	_ = p
}
