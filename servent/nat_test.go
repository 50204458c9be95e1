package servent

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent/natmap"
	"github.com/servent/servent/servent/natmap/nattest"
)

// TestNodeMapsItsPort: a node with NAT on maps its TCP and UDP port on the
// (fake) router, shows the mapping and advertises the external address,
// and removes both mappings at Close.
func TestNodeMapsItsPort(t *testing.T) {
	igd := nattest.StartIGD(t)
	cfg := testConfig(t, ModeLeaf, func(c *Config) {
		c.NAT = natmap.ModeAuto
		c.natGateway, c.natSSDP = igd.IP, igd.SSDP
	})
	n, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, n.Start(t.Context()))
	port := n.Addr().Port()
	require.Eventually(t, func() bool { return n.mapping().TCP }, waitFor, tick)
	m := n.mapping()
	assert.Equal(t, "upnp", m.Protocol)
	assert.Equal(t, igd.IP.String()+" WANIPConnection:1", m.Router)
	assert.True(t, m.UDP)
	assert.Equal(t, "203.0.113.5", m.External.Addr().String())
	assert.Equal(t, port, m.External.Port())
	assert.Equal(t, m.External, n.advertised())
	r := n.Reachability()
	assert.Equal(t, m, r.Mapping)
	assert.Contains(t, r.Reason, "mapped on router "+igd.IP.String()+" WANIPConnection:1 (UPnP)")

	require.NoError(t, n.Close())
	acts := igd.Actions()
	require.GreaterOrEqual(t, len(acts), 2)
	assert.Contains(t, acts, "DeletePortMapping TCP "+itoa(uint64(port)))
	assert.Contains(t, acts, "DeletePortMapping UDP "+itoa(uint64(port)))
}

func TestNATModeValidated(t *testing.T) {
	cfg := testConfig(t, ModeLeaf, func(c *Config) { c.NAT = "pcp" })
	_, err := New(cfg)
	require.ErrorContains(t, err, `nat "pcp": want auto, upnp, natpmp or off`)
}
