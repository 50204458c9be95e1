package guess

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func hostN(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 6346)
}

func kinds(acts []Action) string {
	s := ""
	for _, a := range acts {
		switch a.Kind {
		case RequestKey:
			s += "K"
		case SendQuery:
			s += "Q"
		}
		s += fmt.Sprint(a.To.Addr().As4()[3]) + " "
	}
	return s
}

func TestSearchAlphaAndKeys(t *testing.T) {
	keys := NewKeyCache(time.Hour, 10)
	keys.Put(hostN(2), []byte{1, 2, 3, 4}, t0)
	s := NewSearch(SearchConfig{Alpha: 2, Target: 5, Timeout: time.Second}, keys,
		[]netip.AddrPort{hostN(1), hostN(2), hostN(3), hostN(1)}, netip.AddrPort{})
	acts := s.Start(t0)
	assert.Equal(t, "K1 Q2 ", kinds(acts), "alpha 2: a key request, and the query where a key is cached")
	assert.Equal(t, []byte{1, 2, 3, 4}, acts[1].Key)

	assert.Equal(t, "Q1 ", kinds(s.OnKey(hostN(1), []byte{9, 9, 9, 9}, t0)))
	got, ok := keys.Get(hostN(1), t0)
	require.True(t, ok)
	assert.Equal(t, []byte{9, 9, 9, 9}, got)

	acts = s.OnAck(hostN(2), []netip.AddrPort{hostN(4), hostN(2)}, t0)
	assert.Equal(t, "K3 ", kinds(acts), "one slot freed; the pool is in learning order")
	assert.Nil(t, s.OnAck(hostN(3), nil, t0), "an ack before the query is not ours")
	assert.Nil(t, s.OnResults(2, t0), "both slots busy")
	assert.Equal(t, "K4 ", kinds(s.OnAck(hostN(1), nil, t0)))
	assert.Nil(t, s.OnResults(3, t0), "target reached")
	assert.True(t, s.Done())
	assert.Nil(t, s.Tick(t0.Add(time.Hour)))
	assert.Equal(t, 2, s.Queried())
}

func TestSearchHorizonAndTimeouts(t *testing.T) {
	keys := NewKeyCache(time.Hour, 10)
	s := NewSearch(SearchConfig{Alpha: 1, Target: 100, Timeout: time.Second}, keys,
		[]netip.AddrPort{hostN(1), hostN(2)}, hostN(2))
	assert.Equal(t, "K1 ", kinds(s.Start(t0)), "self is never asked")
	assert.Equal(t, t0.Add(time.Second), s.NextDeadline())
	assert.Nil(t, s.Tick(t0.Add(time.Second-1)))
	assert.False(t, s.Done())
	assert.Nil(t, s.Tick(t0.Add(time.Second)), "timed out; nobody left")
	assert.True(t, s.Done(), "horizon exhausted")
	assert.True(t, s.NextDeadline().IsZero())
}

func TestSearchRefusedKey(t *testing.T) {
	keys := NewKeyCache(time.Hour, 10)
	keys.Put(hostN(1), []byte{1, 1, 1, 1}, t0)
	s := NewSearch(SearchConfig{Alpha: 1, Target: 1}, keys, []netip.AddrPort{hostN(1), hostN(2)}, netip.AddrPort{})
	assert.Equal(t, "Q1 ", kinds(s.Start(t0)))
	// A Pong with a new key in answer to the query: refused; the key is
	// kept, the host is done (a resent MUID is a duplicate to GTKG).
	assert.Equal(t, "K2 ", kinds(s.OnKey(hostN(1), []byte{2, 2, 2, 2}, t0)))
	k, _ := keys.Get(hostN(1), t0)
	assert.Equal(t, []byte{2, 2, 2, 2}, k)
	assert.Equal(t, "", kinds(s.OnKey(hostN(2), nil, t0)), "an empty key: host useless")
	assert.True(t, s.Done())
}

func TestSearchMaxHosts(t *testing.T) {
	var many []netip.AddrPort
	for i := range 500 {
		many = append(many, hostN(i+2))
	}
	s := NewSearch(SearchConfig{Alpha: 1, Target: 1, MaxHosts: 3}, NewKeyCache(time.Hour, 10), []netip.AddrPort{hostN(1)}, netip.AddrPort{})
	s.Start(t0)
	s.OnKey(hostN(1), []byte{1}, t0)
	acts := s.OnAck(hostN(1), many, t0)
	require.Equal(t, "K2 ", kinds(acts))
	assert.Len(t, s.known, 3, "the horizon bounds what one search learns")
}

func TestKeyCache(t *testing.T) {
	c := NewKeyCache(time.Minute, 2)
	c.Put(hostN(1), []byte{1}, t0)
	c.Put(hostN(2), []byte{2}, t0.Add(30*time.Second))
	c.Put(hostN(3), make([]byte, 17), t0)
	_, ok := c.Get(hostN(3), t0)
	assert.False(t, ok, "too long: not kept")
	_, ok = c.Get(hostN(1), t0.Add(time.Minute))
	assert.False(t, ok, "expired")
	c.Put(hostN(4), []byte{4}, t0.Add(time.Minute))
	assert.Equal(t, 2, c.Len(), "expired key pruned to make room")
	_, ok = c.Get(hostN(2), t0.Add(time.Minute))
	assert.True(t, ok)
	c.Put(hostN(5), []byte{5}, t0.Add(time.Minute))
	assert.Equal(t, 2, c.Len(), "bounded")
	c.Forget(hostN(5))
	_, ok = c.Get(hostN(5), t0.Add(time.Minute))
	assert.False(t, ok)
}
