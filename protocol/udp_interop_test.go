package protocol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Replays of the UDP datagrams gtk-gnutella 1.2.3 sent and accepted in the
// UDP lab (testdata/interop/gtk-gnutella/30-* .. 42-*, README "UDP lab").
// Each NN-name.udp-rx.bin / .udp-tx.bin holds every datagram received /
// sent, in order, each preceded by a 4-byte big-endian length; the .txt
// transcript lists the same datagrams, decoded by the lab probe. Every
// datagram goes through DecodeDatagram and its typed decoder, and what the
// transcript says of it is checked field by field.

const udpInteropDir = "../testdata/interop/gtk-gnutella"

// readDatagrams splits a .udp-*.bin file into its datagrams.
func readDatagrams(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out [][]byte
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 4, "%s: length prefix", path)
		n := int(binary.BigEndian.Uint32(b))
		require.LessOrEqual(t, 4+n, len(b), "%s: datagram %d", path, len(out))
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out
}

// txtDatagram is what the transcript says of one datagram.
type txtDatagram struct {
	line      int
	send      bool // "==> UDP SEND" (ours) vs "<== UDP RECV" (gtk-gnutella's)
	size      int
	guid      string
	typ       string
	ttl, hops int
	length    int
	ggep      []string // top-level GGEP ids of a Ping, Pong or Query
	pong      []string // port, ip, files, kbytes
	query     []string // flags, text
	hit       []string // hits, ip, port, speed
	names     []string // result names of a QueryHit
	private   []string // GGEP ids of a QueryHit trailer
	vendor    []string // vendor, selector, version
	oobHits   string   // LIME/12 hits=
	oobFlags  string   // LIME/12 flags=
	oobWanted string   // LIME/11 wanted=
}

var (
	reUDP     = regexp.MustCompile(`^\[[ 0-9.]+\] (==> UDP SEND|<== UDP RECV) \S+ -> \S+ (\d+) bytes`)
	reHdr     = regexp.MustCompile(`^\[[ 0-9.]+\]     guid=([0-9a-f]{32}) (\w+) ttl=(\d+).* hops=(\d+) len=(\d+)$`)
	reGGEP    = regexp.MustCompile(`^\[[ 0-9.]+\] {9}GGEP (\S+) `)
	rePong    = regexp.MustCompile(`^\[[ 0-9.]+\]       pong port=(\d+) ip=(\S+) files=(\d+) kbytes=(\d+)$`)
	reQuery   = regexp.MustCompile(`^\[[ 0-9.]+\]       query flags=0x([0-9a-f]{4}) text='(.*)'$`)
	reHit     = regexp.MustCompile(`^\[[ 0-9.]+\]       queryhit hits=(\d+) ip=(\S+) port=(\d+) speed=(\d+)$`)
	reName    = regexp.MustCompile(`^\[[ 0-9.]+\]        result\[\d+\] index=\d+ size=\d+ name='(.*)'$`)
	rePrivate = regexp.MustCompile(`^\[[ 0-9.]+\] {10}GGEP (\S+) `)
	reVendor  = regexp.MustCompile(`^\[[ 0-9.]+\]       vendor='(....)' selector=(\d+) version=(\d+)`)
	reOOBNum  = regexp.MustCompile(`^\[[ 0-9.]+\]         hits=(\d+) flags=0x([0-9a-f]{2})`)
	reOOBAck  = regexp.MustCompile(`^\[[ 0-9.]+\]         wanted=(\d+)$`)
)

// readTranscript returns the UDP datagrams a .txt lists, in order.
func readTranscript(t testing.TB, path string) []txtDatagram {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []txtDatagram
	var cur *txtDatagram
	inPrivate := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if m := reUDP.FindStringSubmatch(l); m != nil {
			size, _ := strconv.Atoi(m[2])
			out = append(out, txtDatagram{line: n, send: strings.HasPrefix(m[1], "==>"), size: size})
			cur = &out[len(out)-1]
			inPrivate = false
			continue
		}
		if strings.Contains(l, "] ###") || strings.Contains(l, "TCP ") && strings.Contains(l, "==>") {
			cur = nil // a comment or a TCP event ends the datagram's block
			continue
		}
		if cur == nil {
			continue
		}
		if m := reHdr.FindStringSubmatch(l); m != nil && cur.guid == "" {
			cur.guid, cur.typ = m[1], m[2]
			cur.ttl, _ = strconv.Atoi(m[3])
			cur.hops, _ = strconv.Atoi(m[4])
			cur.length, _ = strconv.Atoi(m[5])
			continue
		}
		if strings.Contains(l, "private area") {
			inPrivate = true
			continue
		}
		var m []string
		switch {
		case cur.typ != "QUERYHIT" && reGGEP.MatchString(l):
			m = reGGEP.FindStringSubmatch(l)
			cur.ggep = append(cur.ggep, m[1])
		case inPrivate && rePrivate.MatchString(l):
			m = rePrivate.FindStringSubmatch(l)
			cur.private = append(cur.private, m[1])
		case rePong.MatchString(l):
			cur.pong = rePong.FindStringSubmatch(l)[1:]
		case reQuery.MatchString(l):
			cur.query = reQuery.FindStringSubmatch(l)[1:]
		case reHit.MatchString(l):
			cur.hit = reHit.FindStringSubmatch(l)[1:]
		case reName.MatchString(l):
			cur.names = append(cur.names, reName.FindStringSubmatch(l)[1])
		case reVendor.MatchString(l):
			cur.vendor = reVendor.FindStringSubmatch(l)[1:]
		case reOOBNum.MatchString(l):
			m = reOOBNum.FindStringSubmatch(l)
			cur.oobHits, cur.oobFlags = m[1], m[2]
		case reOOBAck.MatchString(l):
			cur.oobWanted = reOOBAck.FindStringSubmatch(l)[1]
		}
	}
	require.NoError(t, sc.Err())
	return out
}

var txtTypes = map[string]PayloadType{
	"PING": TypePing, "PONG": TypePong, "QUERY": TypeQuery, "QUERYHIT": TypeQueryHit, "VENDOR": TypeVendor,
}

// TestUDPInteropReplay decodes every recorded datagram and checks it
// against its transcript: header, Pong fixed part and GGEP keys, Query
// flags and text, QueryHit results and trailer keys, vendor message fields.
func TestUDPInteropReplay(t *testing.T) {
	txts, err := filepath.Glob(filepath.Join(udpInteropDir, "[34][0-9]-*.txt"))
	require.NoError(t, err)
	require.Len(t, txts, 13, "files 30-42")
	total := 0
	for _, txt := range txts {
		base := strings.TrimSuffix(txt, ".txt")
		listed := readTranscript(t, txt)
		var rx, tx [][]byte
		if _, err := os.Stat(base + ".udp-rx.bin"); err == nil {
			rx = readDatagrams(t, base+".udp-rx.bin")
		}
		if _, err := os.Stat(base + ".udp-tx.bin"); err == nil {
			tx = readDatagrams(t, base+".udp-tx.bin")
		}
		var sent, recv []txtDatagram
		for _, d := range listed {
			if d.send {
				sent = append(sent, d)
			} else {
				recv = append(recv, d)
			}
		}
		name := filepath.Base(base)
		require.Len(t, tx, len(sent), "%s: datagrams sent", name)
		require.Len(t, rx, len(recv), "%s: datagrams received", name)
		for i := range tx {
			checkDatagram(t, name, tx[i], sent[i])
		}
		for i := range rx {
			checkDatagram(t, name, rx[i], recv[i])
		}
		total += len(tx) + len(rx)
	}
	require.Equal(t, 63, total, "every datagram of files 30-42")
}

func checkDatagram(t *testing.T, file string, b []byte, want txtDatagram) {
	t.Helper()
	where := file + ":" + strconv.Itoa(want.line)
	require.Len(t, b, want.size, where)
	d, err := DecodeDatagram(b, true)
	require.NoError(t, err, where)
	require.Equal(t, want.guid, d.Header.GUID.String(), where)
	require.Equal(t, txtTypes[want.typ], d.Header.Type, where)
	// The transcript shows the raw TTL byte; the decoder splits off the
	// "can inflate" mark (ttl=9 on every LIME/11, 12.2).
	require.Equal(t, want.ttl&^UDPCanInflate, int(d.Header.TTL), where)
	require.Equal(t, want.ttl&UDPCanInflate != 0, d.CanInflate, where)
	require.False(t, d.Deflated, where)
	require.Equal(t, want.hops, int(d.Header.Hops), where)
	require.Equal(t, want.length, int(d.Header.Length), where)

	switch d.Header.Type {
	case TypePing:
		var p Ping
		require.NoError(t, p.Decode(d.Payload), where)
		require.Equal(t, want.ggep, ggepIDs(p.GGEP), where)
		// Round trip: the decoded request re-encodes to the same keys.
		r := ParsePingRequest(p.GGEP)
		require.Equal(t, r, ParsePingRequest(r.GGEP()), where)
	case TypePong:
		var p Pong
		require.NoError(t, p.Decode(d.Payload), where)
		require.Equal(t, want.pong, []string{
			strconv.Itoa(int(p.Port)), p.IP.String(), strconv.Itoa(int(p.Files)), strconv.Itoa(int(p.KB)),
		}, where)
		require.Equal(t, want.ggep, ggepIDs(p.GGEP), where)
		info, err := ParsePongInfo(p.GGEP)
		require.NoError(t, err, where)
		// GTKG's key order is the encoder's: the block re-encodes byte for byte.
		require.Equal(t, hex.EncodeToString(d.Payload[PongLen:]),
			hex.EncodeToString(info.AppendGGEP(nil).Append(nil)), where)
	case TypeQuery:
		var q Query
		require.NoError(t, q.Decode(d.Payload), where)
		require.Equal(t, want.query, []string{hex.EncodeToString([]byte{byte(q.Flags >> 8), byte(q.Flags)}), q.Criteria}, where)
		require.Equal(t, want.ggep, ggepIDs(q.GGEP), where)
	case TypeQueryHit:
		var h QueryHit
		require.NoError(t, h.Decode(d.Payload), where)
		require.Equal(t, want.hit, []string{
			strconv.Itoa(len(h.Results)), h.IP.String(), strconv.Itoa(int(h.Port)), strconv.Itoa(int(h.Speed)),
		}, where)
		var names []string
		for _, r := range h.Results {
			names = append(names, r.Name)
		}
		require.Equal(t, want.names, names, where)
		require.Equal(t, want.private, ggepIDs(h.GGEP), where)
	case TypeVendor:
		var v Vendor
		require.NoError(t, v.Decode(d.Payload), where)
		require.Equal(t, want.vendor, []string{string(v.Vendor[:]), strconv.Itoa(int(v.Selector)), strconv.Itoa(int(v.Version))}, where)
		switch {
		case v.Is(VendorLIME, SelOOBReplyNumber):
			r, err := DecodeOOBReplyNumber(v.Version, v.Data)
			require.NoError(t, err, where)
			require.Equal(t, want.oobHits, strconv.Itoa(int(r.Hits)), where)
			require.Equal(t, want.oobFlags == "01", r.CanReceiveUnsolicited, where)
			require.Equal(t, v.Data, r.Vendor().Data, where)
		case v.Is(VendorLIME, SelOOBReplyAck):
			a, err := DecodeOOBReplyAck(v.Version, v.Data)
			require.NoError(t, err, where)
			require.Equal(t, want.oobWanted, strconv.Itoa(int(a.Wanted)), where)
			require.Equal(t, v.Version == 3, a.Token != nil, where)
			require.Equal(t, v, a.Vendor(), where)
		default:
			t.Fatalf("%s: unexpected vendor message %q/%d", where, v.Vendor[:], v.Selector)
		}
	}
}

func ggepIDs(g GGEP) []string {
	var ids []string
	for _, e := range g {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestUDPInteropFacts checks what the README and transcripts say of the
// exchanges beyond single fields: the key binding, the OOB address in the
// MUID, the token echoed in the hit, the connect-back ping.
func TestUDPInteropFacts(t *testing.T) {
	dgram := func(file, dir string, i int) Datagram {
		t.Helper()
		all := readDatagrams(t, filepath.Join(udpInteropDir, file+".udp-"+dir+".bin"))
		require.Greater(t, len(all), i, file)
		d, err := DecodeDatagram(all[i], true)
		require.NoError(t, err)
		return d
	}
	pongInfo := func(d Datagram) (Pong, PongInfo) {
		t.Helper()
		var p Pong
		require.NoError(t, p.Decode(d.Payload))
		info, err := ParsePongInfo(p.GGEP)
		require.NoError(t, err)
		return p, info
	}

	t.Run("30 pong describes gtk-gnutella as a GUESS ultrapeer", func(t *testing.T) {
		_, info := pongInfo(dgram("30-udp-ping-pong", "rx", 0))
		require.Equal(t, PongInfo{
			HasVC: true, Vendor: VendorGTKG, VendorVersion: 0x83, GUESS: GUESSVersion,
			Ultrapeer: true, UPVersion: 2, FreeLeafSlots: 255, FreeUPSlots: 50,
			HasDU: true, DailyUptime: 111, TLS: true,
		}, info)
	})
	t.Run("31 UHC pong lists the announced hosts, the intro ping names a GUESS port", func(t *testing.T) {
		_, info := pongInfo(dgram("31-uhc-scp-ipp", "rx", 0))
		require.Equal(t, []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.43:7003"),
			netip.MustParseAddrPort("127.0.0.42:7002"),
			netip.MustParseAddrPort("127.0.0.31:6399"),
		}, info.Hosts)
		var intros []uint16
		for _, b := range readDatagrams(t, filepath.Join(udpInteropDir, "31-uhc-scp-ipp.udp-tx.bin")) {
			d, err := DecodeDatagram(b, false)
			require.NoError(t, err)
			var p Ping
			require.NoError(t, p.Decode(d.Payload))
			if r := ParsePingRequest(p.GGEP); r.GUESSIntro != 0 {
				intros = append(intros, r.GUESSIntro)
			}
		}
		require.Equal(t, []uint16{7011, 7012, 7013}, intros)
	})
	t.Run("32 query key pong", func(t *testing.T) {
		_, info := pongInfo(dgram("32-guess-qk", "rx", 0))
		require.Equal(t, []byte{0x78, 0xb9, 0xf1, 0x16}, info.QueryKey)
		_, info = pongInfo(dgram("32-guess-qk", "rx", 1))
		require.Len(t, info.QueryKey, QueryKeyLen)
		require.Len(t, info.Hosts, 3, "QK+SCP: GUESS hosts in IPP")
	})
	t.Run("33 GUESS ack pong names another GUESS host with hops 1", func(t *testing.T) {
		d := dgram("33-guess-query-hit", "rx", 1)
		require.Equal(t, uint8(1), d.Header.Hops)
		p, info := pongInfo(d)
		require.Equal(t, netip.MustParseAddrPort("127.0.0.54:7013"), netip.AddrPortFrom(p.IP, p.Port))
		require.Equal(t, uint8(GUESSVersion), info.GUESS)
		hit := dgram("33-guess-query-hit", "rx", 2)
		require.Equal(t, TypeQueryHit, hit.Header.Type)
		require.Equal(t, uint8(6), hit.Header.TTL)
	})
	t.Run("35 OOB v3: MUID address, LIME/12, LIME/11 token echoed in the hit", func(t *testing.T) {
		num := dgram("35-oob-v3-server", "rx", 0)
		require.Equal(t, netip.MustParseAddrPort("127.0.0.39:46474"), OOBAddr(num.Header.GUID))
		var ack Vendor
		require.NoError(t, ack.Decode(dgram("35-oob-v3-server", "tx", 0).Payload))
		a, err := DecodeOOBReplyAck(ack.Version, ack.Data)
		require.NoError(t, err)
		require.Equal(t, uint8(OOBWantAll), a.Wanted)
		var h QueryHit
		require.NoError(t, h.Decode(dgram("35-oob-v3-server", "rx", 1).Payload))
		so, ok := h.GGEP.Get("SO")
		require.True(t, ok)
		require.Equal(t, a.Token, so)
	})
	t.Run("40 gtk-gnutella's LIME/11 claims both hits with a 4-byte token", func(t *testing.T) {
		d := dgram("40-gtkg-oob-querier", "rx", 0)
		require.True(t, d.CanInflate)
		require.Equal(t, netip.MustParseAddrPort("127.0.0.1:6346"), OOBAddr(d.Header.GUID))
		var v Vendor
		require.NoError(t, v.Decode(d.Payload))
		a, err := DecodeOOBReplyAck(v.Version, v.Data)
		require.NoError(t, err)
		require.Equal(t, OOBReplyAck{Version: 3, Wanted: 2, Token: []byte{0xf1, 0x4a, 0xee, 0x7c}}, a)
	})
	t.Run("42 the connect-back ping echoes the GTKG/7 GUID", func(t *testing.T) {
		// Our GTKG/7 requests went over TCP (leaf = v2, leaf2 = v1): find
		// them in the recorded streams and match the pings.
		var want []GUID
		for _, f := range []string{"42-connect-back-udp.leaf.tx-msgs.bin", "42-connect-back-udp.leaf2.tx-msgs.bin"} {
			b, err := os.ReadFile(filepath.Join(udpInteropDir, f))
			require.NoError(t, err)
			dec := NewDecoder(bytes.NewReader(skipHandshakeBlocks(b)))
			var got []UDPConnectBack
			for {
				h, p, err := dec.Next()
				if err != nil {
					break
				}
				var v Vendor
				if h.Type != TypeVendor || v.Decode(p) != nil || !v.Is(VendorGTKG, SelUDPConnectBack) {
					continue
				}
				c, err := DecodeUDPConnectBack(v.Version, h.GUID, v.Data)
				require.NoError(t, err)
				got = append(got, c)
			}
			require.NotEmpty(t, got, f)
			want = append(want, got[0].GUID) // the later ones were rate-limited (12.3)
		}
		for i, w := range want {
			d := dgram("42-connect-back-udp", "rx", i)
			require.Equal(t, TypePing, d.Header.Type)
			require.Equal(t, w, d.Header.GUID)
			require.Nil(t, d.Payload)
		}
	})
}
