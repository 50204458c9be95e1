package protocol

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// vendorRoundTrip encodes v as a vendor descriptor payload and decodes the
// framing back.
func vendorRoundTrip(t *testing.T, v Vendor) Vendor {
	t.Helper()
	var got Vendor
	require.NoError(t, got.Decode(v.Append(nil)))
	require.Equal(t, v.Vendor, got.Vendor)
	require.Equal(t, v.Selector, got.Selector)
	require.Equal(t, v.Version, got.Version)
	require.Equal(t, string(v.Data), string(got.Data))
	return got
}

func TestVendorFraming(t *testing.T) {
	var v Vendor
	require.ErrorIs(t, v.Decode(make([]byte, 7)), ErrTruncated)
	require.NoError(t, v.Decode(dhex(t, "42454152 0400 0100 05")))
	require.Equal(t, Vendor{Vendor: VendorBEAR, Selector: 4, Version: 1, Data: []byte{5}}, v)
	require.True(t, v.Is(VendorBEAR, SelHopsFlow))
	require.False(t, v.Is(VendorLIME, SelHopsFlow))
	require.NoError(t, v.Decode(dhex(t, "42454152 0b00 0100")))
	require.Nil(t, v.Data)
}

// Every vendor message servent knows, byte for byte (GNUTELLA.md 4.8).
func TestVendorMessages(t *testing.T) {
	tests := []struct {
		name string
		v    Vendor
		wire string
	}{
		{"Messages Supported", MessagesSupported{Entries: []VendorEntry{{VendorBEAR, 4, 1}, {VendorLIME, 22, 2}}}.Vendor(),
			"00000000 0000 0000 0200 42454152 0400 0100 4c494d45 1600 0200"},
		{"Features Supported", FeaturesSupported{Features: []FeatureEntry{{[4]byte([]byte("TLS!")), 1}}}.Vendor(),
			"00000000 0a00 0000 0100 544c5321 0100"},
		{"Hops Flow", HopsFlow{MaxHops: 0}.Vendor(), "42454152 0400 0100 00"},
		{"TCP Connect Back", TCPConnectBack{Port: 6346}.Vendor(), "42454152 0700 0100 ca18"},
		{"Query Status Request", QueryStatusRequest{}.Vendor(), "42454152 0b00 0100"},
		{"Query Status Response", QueryStatusResponse{Hits: 0xFFFF}.Vendor(), "42454152 0c00 0100 ffff"},
		{"Push Proxy Request", PushProxyRequest{}.Vendor(), "4c494d45 1500 0200"},
		{"Push Proxy Ack", PushProxyAck{Addr: netip.MustParseAddrPort("192.0.2.10:6346")}.Vendor(), "4c494d45 1600 0200 c000020a ca18"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, dhex(t, tt.wire), tt.v.Append(nil))
			vendorRoundTrip(t, tt.v)
		})
	}
}

func TestVendorDecoders(t *testing.T) {
	ms := MessagesSupported{Entries: []VendorEntry{{VendorBEAR, 4, 1}, {VendorBEAR, 7, 1}, {VendorLIME, 21, 1}, {VendorLIME, 21, 2}}}
	got, err := DecodeMessagesSupported(ms.Vendor().Data)
	require.NoError(t, err)
	require.Equal(t, ms, got)
	ver, ok := got.Supports(VendorLIME, SelPushProxyReq)
	require.True(t, ok)
	require.Equal(t, uint16(2), ver)
	// Empty list.
	got, err = DecodeMessagesSupported([]byte{0, 0})
	require.NoError(t, err)
	require.Empty(t, got.Entries)

	fs := FeaturesSupported{Features: []FeatureEntry{{[4]byte([]byte("HSEP")), 1}, {[4]byte([]byte("F2FT")), 0xFFFF}}}
	gotF, err := DecodeFeaturesSupported(fs.Vendor().Data)
	require.NoError(t, err)
	require.Equal(t, fs, gotF)

	hf, err := DecodeHopsFlow([]byte{3})
	require.NoError(t, err)
	require.Equal(t, HopsFlow{MaxHops: 3}, hf)
	cb, err := DecodeTCPConnectBack([]byte{0xca, 0x18})
	require.NoError(t, err)
	require.Equal(t, TCPConnectBack{Port: 6346}, cb)
	qs, err := DecodeQueryStatusResponse([]byte{0x0a, 0x00})
	require.NoError(t, err)
	require.Equal(t, QueryStatusResponse{Hits: 10}, qs)
	ack, err := DecodePushProxyAck(2, dhex(t, "c000020a ca18"))
	require.NoError(t, err)
	require.Equal(t, netip.MustParseAddrPort("192.0.2.10:6346"), ack.Addr)
	ack, err = DecodePushProxyAck(1, dhex(t, "ca18"))
	require.NoError(t, err)
	require.False(t, ack.Addr.Addr().IsValid())
	require.Equal(t, uint16(6346), ack.Addr.Port())
}

func TestVendorDecoderErrors(t *testing.T) {
	for name, err := range map[string]error{
		"ms empty":          func() error { _, err := DecodeMessagesSupported(nil); return err }(),
		"ms count too big":  func() error { _, err := DecodeMessagesSupported(dhex(t, "0200 42454152 0400 0100")); return err }(),
		"ms count 65535":    func() error { _, err := DecodeMessagesSupported([]byte{0xff, 0xff}); return err }(),
		"fs empty":          func() error { _, err := DecodeFeaturesSupported([]byte{1}); return err }(),
		"fs count too big":  func() error { _, err := DecodeFeaturesSupported(dhex(t, "0200 544c5321 0100")); return err }(),
		"hops flow":         func() error { _, err := DecodeHopsFlow(nil); return err }(),
		"connect back":      func() error { _, err := DecodeTCPConnectBack([]byte{1}); return err }(),
		"query status":      func() error { _, err := DecodeQueryStatusResponse([]byte{1}); return err }(),
		"push proxy ack v2": func() error { _, err := DecodePushProxyAck(2, dhex(t, "c000020a ca")); return err }(),
		"push proxy ack v1": func() error { _, err := DecodePushProxyAck(1, []byte{1}); return err }(),
	} {
		require.ErrorIs(t, err, ErrTruncated, name)
	}
}

func FuzzVendor(f *testing.F) {
	addInteropSeeds(f, typePtr(TypeVendor))
	f.Add(dhex(f, "00000000 0000 0000 0200 42454152 0400 0100 4c494d45 1600 0200"))
	f.Add(dhex(f, "00000000 0a00 0000 060048534550010057484154010051525031010046324654ffff544350490100544c53210100"))
	f.Add(dhex(f, "42454152 0400 0100 00"))
	f.Add(dhex(f, "42454152 0700 0100 ca18"))
	f.Add(dhex(f, "42454152 0b00 0100"))
	f.Add(dhex(f, "42454152 0c00 0100 ffff"))
	f.Add(dhex(f, "4c494d45 1500 0200"))
	f.Add(dhex(f, "4c494d45 1600 0200 c000020a ca18"))
	f.Add(dhex(f, "4c494d45 1600 0100 ca18"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v Vendor
		if err := v.Decode(b); err != nil {
			require.Less(t, len(b), VendorHeaderLen)
			return
		}
		require.Equal(t, b, v.Append(nil))
		switch {
		case v.Is(VendorNull, SelMessagesSupported):
			if m, err := DecodeMessagesSupported(v.Data); err == nil {
				again, err := DecodeMessagesSupported(m.Vendor().Data)
				require.NoError(t, err)
				require.Equal(t, len(m.Entries), len(again.Entries))
			}
		case v.Is(VendorNull, SelFeaturesSupported):
			if m, err := DecodeFeaturesSupported(v.Data); err == nil {
				again, err := DecodeFeaturesSupported(m.Vendor().Data)
				require.NoError(t, err)
				require.Equal(t, len(m.Features), len(again.Features))
			}
		case v.Is(VendorBEAR, SelHopsFlow):
			_, _ = DecodeHopsFlow(v.Data)
		case v.Is(VendorBEAR, SelTCPConnectBack):
			_, _ = DecodeTCPConnectBack(v.Data)
		case v.Is(VendorBEAR, SelQueryStatusResp):
			_, _ = DecodeQueryStatusResponse(v.Data)
		case v.Is(VendorLIME, SelPushProxyAck):
			if a, err := DecodePushProxyAck(v.Version, v.Data); err == nil && v.Version >= 2 {
				again, err := DecodePushProxyAck(2, a.Vendor().Data)
				require.NoError(t, err)
				require.Equal(t, a, again)
			}
		}
	})
}
