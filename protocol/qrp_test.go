package protocol

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

// qrpMessage frames a QRP payload by hand (TTL 1, hops 0), independent of
// the descriptor codec.
func qrpMessage(guid string, payload []byte) []byte {
	g, _ := hex.DecodeString(guid)
	b := append(g, byte(TypeQRP), 1, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// splitMessages cuts an inflated descriptor stream (23-byte headers,
// little-endian payload length at offset 19) and returns the QRP payloads.
func qrpPayloads(t testing.TB, stream []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(stream) > 0 {
		require.GreaterOrEqual(t, len(stream), HeaderLen)
		n := int(binary.LittleEndian.Uint32(stream[19:23]))
		require.GreaterOrEqual(t, len(stream), HeaderLen+n)
		if PayloadType(stream[16]) == TypeQRP {
			out = append(out, stream[HeaderLen:HeaderLen+n])
		}
		stream = stream[HeaderLen+n:]
	}
	return out
}

func table64(t testing.TB) *QRPTable {
	tb := NewQRPTable(6)
	tb.AddWord("alpha")
	tb.AddWord("beta")
	require.True(t, tb.Present(44))
	require.True(t, tb.Present(10))
	require.Equal(t, 2, tb.Count())
	return tb
}

// GNUTELLA.md 10.7.
func TestQRPVectors(t *testing.T) {
	resetMsg := unhex(t, `a1 a2 a3 a4 a5 a6 a7 a8 ff a9 aa ab ac ad ae 00
		30 01 00 06 00 00 00  00  40 00 00 00  02`)
	patchMsg := unhex(t, `b1 b2 b3 b4 b5 b6 b7 b8 ff b9 ba bb bc bd be 00
		30 01 00 25 00 00 00  01 01 01 00 04
		00 00 00 00 00 f0 00 00 00 00 00 00 00 00 00 00
		00 00 00 00 00 00 f0 00 00 00 00 00 00 00 00 00`)
	zpatchMsg := unhex(t, `b1 b2 b3 b4 b5 b6 b7 b8 ff b9 ba bb bc bd be 00
		30 01 00 16 00 00 00  01 01 01 01 04
		78 da 63 60 00 82 0f 0c 68 00 21 00 00 22 d0 01 e1`)
	require.Len(t, resetMsg, 29)
	require.Len(t, patchMsg, 60)
	require.Len(t, zpatchMsg, 45)

	tb := table64(t)
	reset, patches := tb.Messages(2, false)
	require.Equal(t, QRPReset{TableLen: 64, Infinity: 2}, reset)
	require.Len(t, patches, 1)
	require.Equal(t, resetMsg, qrpMessage("a1a2a3a4a5a6a7a8ffa9aaabacadae00", reset.Append(nil)))
	require.Equal(t, patchMsg, qrpMessage("b1b2b3b4b5b6b7b8ffb9babbbcbdbe00", patches[0].Append(nil)))

	// LimeWire's RESET.
	require.Equal(t, unhex(t, "00 00 00 01 00 07"), (&QRPReset{TableLen: 65536, Infinity: 7}).Append(nil))

	// Our zlib need not match the C zlib bytes; it must inflate to the
	// same array, and the C bytes must decode.
	_, zp := tb.Messages(2, true)
	require.Len(t, zp, 1)
	require.Equal(t, uint8(1), zp[0].Compressor)
	zr, err := zlib.NewReader(bytes.NewReader(zp[0].Data))
	require.NoError(t, err)
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, patches[0].Data, raw)

	for _, p := range [][]byte{patchMsg, zpatchMsg} {
		var r QRPReceiver
		got, err := r.HandlePayload(resetMsg[HeaderLen:])
		require.NoError(t, err)
		require.Nil(t, got)
		require.Equal(t, uint8(2), r.Infinity())
		got, err = r.HandlePayload(p[HeaderLen:])
		require.NoError(t, err)
		require.True(t, tb.Equal(got))
		require.True(t, got.HasWord("alpha") && got.HasWord("beta"))
		require.False(t, got.HasWord("gamma"))
		require.Same(t, got, r.Table())
	}
}

func TestQRPCodecErrors(t *testing.T) {
	tests := []struct {
		in  string
		err error
	}{
		{"", ErrTruncated},
		{"02", ErrMalformed},
		{"00 40 00 00", ErrTruncated},
		{"00 40 00 00 00 02 00", ErrMalformed},
		{"00 41 00 00 00 02", ErrMalformed}, // not a power of two
		{"00 00 00 00 00 02", ErrMalformed}, // zero
		{"00 00 00 40 00 02", ErrTooLarge},  // 2^22
		{"00 40 00 00 00 00", ErrMalformed}, // infinity 0
		{"01 01 01 00 04", ErrTruncated},    // no data
		{"01 00 01 00 04 00", ErrMalformed}, // seq 0
		{"01 02 01 00 04 00", ErrMalformed}, // seq > size
		{"01 01 01 02 04 00", ErrMalformed}, // compressor 2
		{"01 01 01 00 03 00", ErrMalformed}, // entry bits 3
		{"01 01 00 00 04 00", ErrMalformed}, // size 0
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, _, err := DecodeQRP(unhex(t, tc.in))
			require.ErrorIs(t, err, tc.err)
		})
	}
	r, p, err := DecodeQRP(unhex(t, "01 02 03 01 02 aa bb"))
	require.NoError(t, err)
	require.Nil(t, r)
	require.Equal(t, &QRPPatch{SeqNo: 2, SeqSize: 3, Compressor: 1, EntryBits: 2, Data: []byte{0xaa, 0xbb}}, p)
	r, p, err = DecodeQRP(unhex(t, "00 00 00 20 00 01"))
	require.NoError(t, err)
	require.Nil(t, p)
	require.Equal(t, &QRPReset{TableLen: 1 << 21, Infinity: 1}, r)
	require.Equal(t, uint(21), r.Bits())
}

// feed applies messages and returns the last complete table.
func feed(t testing.TB, r *QRPReceiver, reset *QRPReset, patches []QRPPatch) *QRPTable {
	t.Helper()
	if reset != nil {
		got, err := r.Handle(reset, nil)
		require.NoError(t, err)
		require.Nil(t, got)
	}
	var last *QRPTable
	for i := range patches {
		got, err := r.Handle(nil, &patches[i])
		require.NoError(t, err)
		if i < len(patches)-1 {
			require.Nil(t, got)
		} else {
			last = got
		}
	}
	require.NotNil(t, last)
	return last
}

func bigTable(bits uint, words int) *QRPTable {
	tb := NewQRPTable(bits)
	for i := range words {
		tb.AddWord(fmt.Sprintf("word%d", i))
	}
	return tb
}

func TestQRPMessagesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		bits     uint
		words    int
		compress bool
	}{
		{0, 1, true}, {1, 1, false}, {3, 2, true}, {14, 100, true}, {16, 600, true},
		{16, 600, false}, {21, 20000, true}, {21, 30000, false}, {18, 60000, true},
	} {
		t.Run(fmt.Sprintf("%d-%d-%v", tc.bits, tc.words, tc.compress), func(t *testing.T) {
			tb := bigTable(tc.bits, tc.words)
			reset, patches := tb.Messages(0, tc.compress)
			require.Equal(t, uint8(QRPInfinity), reset.Infinity)
			require.Equal(t, uint32(tb.Len()), reset.TableLen)
			require.LessOrEqual(t, len(patches), 255)
			total := 0
			for i, p := range patches {
				require.Equal(t, uint8(i+1), p.SeqNo)
				require.Equal(t, uint8(len(patches)), p.SeqSize)
				total += len(p.Data)
			}
			chunk := max(512, total/255+1)
			for _, p := range patches[:len(patches)-1] {
				require.Len(t, p.Data, chunk) // GTKG QRT_PATCH_LEN rule
			}
			var r QRPReceiver
			got := feed(t, &r, &reset, patches)
			require.True(t, tb.Equal(got))
			require.Equal(t, tb.Count(), got.Count())
		})
	}
}

func TestQRPEntrySizes(t *testing.T) {
	// 16 slots; present: 0, 3, 9, 15.
	want := NewQRPTable(4)
	for _, s := range []uint32{0, 3, 9, 15} {
		want.Set(s)
	}
	patch := func(e uint8, data string) QRPPatch {
		return QRPPatch{SeqNo: 1, SeqSize: 1, EntryBits: e, Data: unhex(t, data)}
	}
	for _, p := range []QRPPatch{
		patch(8, "ff 00 00 80 00 00 00 00 00 f9 00 00 00 00 00 fe"),
		patch(4, "f0 0f 00 00 0c 00 00 0e"),
		patch(2, "c3 00 20 03"), // 11 = -1, 10 = -2, 00 = no change
		patch(1, "90 41"),       // flip
	} {
		var r QRPReceiver
		got := feed(t, &r, &QRPReset{TableLen: 16, Infinity: 7}, []QRPPatch{p})
		require.True(t, want.Equal(got), "entry bits %d", p.EntryBits)

		// Incremental: positive entries clear, 1-bit flips back.
		var clear QRPPatch
		switch p.EntryBits {
		case 8:
			clear = patch(8, "01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")
		case 4:
			clear = patch(4, "10 00 00 00 00 00 00 00")
		case 2:
			clear = patch(2, "40 00 00 00")
		case 1:
			clear = patch(1, "80 00")
		}
		upd := feed(t, &r, nil, []QRPPatch{clear})
		require.False(t, upd.Present(0))
		require.Equal(t, 3, upd.Count())
		require.True(t, want.Equal(got), "the table handed out before is not modified")
	}
}

func TestQRPReceiverErrors(t *testing.T) {
	reset := &QRPReset{TableLen: 64, Infinity: 2}
	p := func(seq, size, comp, e uint8, data []byte) *QRPPatch {
		return &QRPPatch{SeqNo: seq, SeqSize: size, Compressor: comp, EntryBits: e, Data: data}
	}
	zeros := func(n int) []byte { return make([]byte, n) }
	deflate := func(b []byte) []byte {
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name  string
		reset bool
		seq   []*QRPPatch
		err   error
	}{
		{"no reset", false, []*QRPPatch{p(1, 1, 0, 4, zeros(32))}, ErrQRPNoReset},
		{"gap", true, []*QRPPatch{p(1, 3, 0, 4, zeros(8)), p(3, 3, 0, 4, zeros(8))}, ErrQRPSequence},
		{"starts at 2", true, []*QRPPatch{p(2, 2, 0, 4, zeros(8))}, ErrQRPSequence},
		{"repeat", true, []*QRPPatch{p(1, 2, 0, 4, zeros(8)), p(1, 2, 0, 4, zeros(8))}, ErrQRPSequence},
		{"size changed", true, []*QRPPatch{p(1, 2, 0, 4, zeros(8)), p(2, 3, 0, 4, zeros(8))}, ErrQRPSequence},
		{"bits changed", true, []*QRPPatch{p(1, 2, 0, 4, zeros(16)), p(2, 2, 0, 8, zeros(16))}, ErrQRPSequence},
		{"compressor changed", true, []*QRPPatch{p(1, 2, 0, 4, zeros(16)), p(2, 2, 1, 4, zeros(16))}, ErrQRPSequence},
		{"bad bits", true, []*QRPPatch{p(1, 1, 0, 3, zeros(32))}, ErrMalformed},
		{"bad compressor", true, []*QRPPatch{p(1, 1, 2, 4, zeros(32))}, ErrMalformed},
		{"overflow", true, []*QRPPatch{p(1, 1, 0, 4, zeros(33))}, ErrTooLarge},
		{"overflow later", true, []*QRPPatch{p(1, 2, 0, 4, zeros(30)), p(2, 2, 0, 4, zeros(3))}, ErrTooLarge},
		{"incomplete", true, []*QRPPatch{p(1, 1, 0, 4, zeros(31))}, ErrQRPIncomplete},
		{"incomplete zlib", true, []*QRPPatch{p(1, 1, 1, 4, deflate(zeros(31)))}, ErrQRPIncomplete},
		{"inflates too far", true, []*QRPPatch{p(1, 1, 1, 4, deflate(zeros(100000)))}, ErrTooLarge},
		{"compressed too long", true, []*QRPPatch{p(1, 2, 1, 4, zeros(1100)), p(2, 2, 1, 4, zeros(100))}, ErrTooLarge},
		{"not zlib", true, []*QRPPatch{p(1, 1, 1, 4, []byte("garbage"))}, ErrMalformed},
		{"corrupt zlib", true, []*QRPPatch{p(1, 1, 1, 4, append(deflate(zeros(32))[:4], 0xff, 0xff, 0xff))}, ErrMalformed},
		{"1-bit on 4 slots", true, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r QRPReceiver
			if tc.reset {
				_, err := r.Handle(reset, nil)
				require.NoError(t, err)
			}
			var err error
			for _, patch := range tc.seq {
				if _, err = r.Handle(nil, patch); err != nil {
					break
				}
			}
			if tc.err == nil {
				return
			}
			require.ErrorIs(t, err, tc.err)
			require.Nil(t, r.Table())
		})
	}

	// A 1-bit patch byte covers 8 slots: a 4-slot table cannot take one.
	var r QRPReceiver
	_, err := r.Handle(&QRPReset{TableLen: 4, Infinity: 1}, nil)
	require.NoError(t, err)
	_, err = r.Handle(nil, p(1, 1, 0, 1, []byte{0x80}))
	require.ErrorIs(t, err, ErrTooLarge)

	// RESET checks.
	for _, bad := range []QRPReset{{TableLen: 3, Infinity: 2}, {TableLen: 64}, {TableLen: 1 << 22, Infinity: 2}} {
		_, err := r.Handle(&bad, nil)
		require.Error(t, err)
	}
	got, err := r.Handle(nil, nil)
	require.NoError(t, err)
	require.Nil(t, got)
}

func TestQRPReceiverKeepsOldTable(t *testing.T) {
	var r QRPReceiver
	old := feed(t, &r, &QRPReset{TableLen: 64, Infinity: 2}, func() []QRPPatch { _, p := table64(t).Messages(2, false); return p }())
	// A new sequence in progress leaves the old table in place.
	_, err := r.Handle(&QRPReset{TableLen: 128, Infinity: 2}, nil)
	require.NoError(t, err)
	_, err = r.Handle(nil, &QRPPatch{SeqNo: 1, SeqSize: 2, EntryBits: 4, Data: make([]byte, 32)})
	require.NoError(t, err)
	require.Same(t, old, r.Table())
	// A failed sequence too.
	_, err = r.Handle(nil, &QRPPatch{SeqNo: 1, SeqSize: 2, EntryBits: 4, Data: make([]byte, 32)})
	require.ErrorIs(t, err, ErrQRPSequence)
	require.Same(t, old, r.Table())
	require.Equal(t, 2, old.Count())
	// After an error, an incremental patch applies to the old table.
	upd := feed(t, &r, nil, []QRPPatch{{SeqNo: 1, SeqSize: 1, EntryBits: 8, Data: append(make([]byte, 63), 0xff)}})
	require.Equal(t, 3, upd.Count())
	require.Equal(t, 2, old.Count())
}

func TestQRPTableResize(t *testing.T) {
	words := []string{"alpha", "beta", "gnutella", "metallica", "mp3", "cafe"}
	tb := NewQRPTable(16)
	for _, w := range words {
		tb.AddWord(w)
	}
	for _, bits := range []uint{0, 1, 6, 13, 16, 17, 21} {
		rs := tb.Resize(bits)
		require.Equal(t, bits, rs.Bits())
		for _, w := range words {
			require.True(t, rs.HasWord(w), "%s at %d bits", w, bits)
			require.True(t, rs.HasHashCode(QRPHashCode(w)))
			if bits > 0 {
				require.True(t, rs.Present(QRPHash(w, bits)))
			}
		}
		if bits > 16 {
			require.Equal(t, tb.Count()<<(bits-16), rs.Count())
			require.True(t, tb.Equal(rs.Resize(16)))
		}
	}
	require.Equal(t, 1, tb.Resize(0).Count())
	require.False(t, tb.Resize(21).HasWord("gamma"))

	// Or across sizes.
	a := NewQRPTable(14)
	a.AddWord("gamma")
	a.Or(tb)
	for _, w := range append(words, "gamma") {
		require.True(t, a.HasWord(w))
	}
	c := tb.Clone()
	c.Clear(QRPHash("alpha", 16))
	require.False(t, c.HasWord("alpha"))
	require.True(t, tb.HasWord("alpha"))
	require.False(t, c.Equal(tb))
	require.True(t, (*QRPTable)(nil).Equal(nil))
	require.False(t, tb.Equal(nil))
	c.Set(1 << 20) // out of range: ignored
	require.False(t, c.Present(1<<20))
	require.Equal(t, 65536, c.Len())
	require.Panics(t, func() { NewQRPTable(22) })
}

// The recorded QRP tables of both real clients.
func TestQRPInteropReplay(t *testing.T) {
	// Shared: "alpha beta.txt", "gamma delta.mp3", "epsilon zeta.txt". Both
	// clients insert every word plus its prefixes down to 4 characters;
	// 3-character prefixes ("alp") are NOT in GTKG's table.
	gtkgWords := strings.Fields("alpha alph beta txt gamma gamm delta delt mp3 epsilon epsilo epsil epsi zeta")
	bunSlots := []uint32{10705, 13608, 13996, 27493, 27748, 27848, 28995, 29409, 37994, 44399, 46060, 50372, 55773, 64877}
	tests := []struct {
		file     string
		bits     uint
		inf      uint8
		entry    uint8
		check    func(t *testing.T, tb *QRPTable)
		nPayload int
	}{
		{"gtk-gnutella/03-ultra-deflate.rx-msgs.bin", 14, 2, 4, func(t *testing.T, tb *QRPTable) {
			for _, w := range gtkgWords {
				require.True(t, tb.HasWord(w), w)
			}
			require.Equal(t, len(gtkgWords), tb.Count()) // no collisions at 14 bits
			for _, w := range strings.Fields("alp bet gam del eps zet zzz urn:sha1:CP3F6HSN2FRG2H27KAWWT2VOTFTYQ33N") {
				require.False(t, tb.HasWord(w), w)
			}
		}, 2},
		{"gtk-gnutella/20-gtkg-ultra-connects-to-us.rx-msgs.bin", 14, 2, 4, func(t *testing.T, tb *QRPTable) {
			for _, w := range gtkgWords {
				require.True(t, tb.HasWord(w), w)
			}
		}, 2},
		{"gnutella-bun-client/03-ultra-deflate.rx-msgs.bin", 16, 7, 1, func(t *testing.T, tb *QRPTable) {
			requireSlots(t, tb, bunSlots)
		}, 2},
		{"gnutella-bun-client/31-bun-leaf-connects-to-us.rx-msgs.bin", 16, 7, 1, func(t *testing.T, tb *QRPTable) {
			requireSlots(t, tb, bunSlots)
			for _, w := range strings.Fields("alpha alph beta txt epsilon epsilo epsil epsi zeta gamma gamm delta delt mp3") {
				require.True(t, tb.HasWord(w), w)
			}
		}, -1},
		{"gnutella-bun-client/80-bun-leaf-parses-gtkg-messages.rx-msgs.bin", 16, 7, 1, func(t *testing.T, tb *QRPTable) {
			require.Zero(t, tb.Count()) // no shares
		}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			stream, err := os.ReadFile(filepath.Join(interopDir, tc.file))
			require.NoError(t, err)
			payloads := qrpPayloads(t, stream)
			if tc.nPayload > 0 {
				require.Len(t, payloads, tc.nPayload)
			}
			var r QRPReceiver
			var tables []*QRPTable
			for _, pl := range payloads {
				reset, patch, err := DecodeQRP(pl)
				require.NoError(t, err)
				if reset != nil {
					require.Equal(t, uint32(1)<<tc.bits, reset.TableLen)
					require.Equal(t, tc.inf, reset.Infinity)
					require.Equal(t, pl, reset.Append(nil))
				} else {
					require.Equal(t, tc.entry, patch.EntryBits)
					require.Equal(t, uint8(1), patch.Compressor)
					require.Equal(t, pl, patch.Append(nil))
				}
				tb, err := r.Handle(reset, patch)
				require.NoError(t, err)
				if tb != nil {
					tables = append(tables, tb)
				}
			}
			require.NotEmpty(t, tables)
			for _, tb := range tables {
				require.Equal(t, tc.bits, tb.Bits())
				tc.check(t, tb)
			}
			// Re-encoded by us, the table decodes to the same slots.
			reset, patches := tables[0].Messages(0, true)
			var r2 QRPReceiver
			require.True(t, tables[0].Equal(feed(t, &r2, &reset, patches)))
		})
	}
}

func requireSlots(t *testing.T, tb *QRPTable, slots []uint32) {
	t.Helper()
	var got []uint32
	for s := range uint32(tb.Len()) {
		if tb.Present(s) {
			got = append(got, s)
		}
	}
	require.Equal(t, slots, got)
	require.True(t, slices.IsSorted(got))
}

// 61: GnutellaBun answered a PATCH without RESET with BYE 413; so do we.
func TestQRPInteropBadPatch(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(interopDir, "gnutella-bun-client/61-leaf-vendor-msg-unsolicited-pong-bad-qrp.tx-msgs.bin"))
	require.NoError(t, err)
	// The probe's tx-msgs file starts with its two handshake blocks.
	br := bufio.NewReader(bytes.NewReader(raw))
	for range 2 {
		_, err := ReadHandshake(br)
		require.NoError(t, err)
	}
	stream, err := io.ReadAll(br)
	require.NoError(t, err)
	payloads := qrpPayloads(t, stream)
	require.Len(t, payloads, 1)
	var r QRPReceiver
	_, err = r.HandlePayload(payloads[0])
	require.ErrorIs(t, err, ErrQRPNoReset)
	require.ErrorIs(t, err, ErrMalformed)
}

func FuzzQRP(f *testing.F) {
	f.Add([]byte{0, 0x40, 0, 0, 0, 2})
	f.Add([]byte{1, 1, 1, 0, 4, 0, 0xf0})
	f.Add([]byte{1, 1, 1, 1, 4, 0x78, 0xda, 0x63, 0x60, 0x00, 0x82, 0x0f, 0x0c, 0x68, 0x00, 0x21, 0x00, 0x00, 0x22, 0xd0, 0x01, 0xe1})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, in []byte) {
		reset, patch, err := DecodeQRP(in)
		if err != nil {
			require.Nil(t, reset)
			require.Nil(t, patch)
			return
		}
		// Decode is canonical: re-encoding gives the input back.
		if reset != nil {
			require.Equal(t, in, reset.Append(nil))
		} else {
			require.Equal(t, in, patch.Append(nil))
		}
	})
}

// FuzzQRPReceiver input: a sequence of payloads, each prefixed with its
// length as one byte.
func FuzzQRPReceiver(f *testing.F) {
	seq := func(payloads ...[]byte) []byte {
		var b []byte
		for _, p := range payloads {
			b = append(b, byte(len(p)))
			b = append(b, p...)
		}
		return b
	}
	reset := []byte{0, 0x40, 0, 0, 0, 2}
	f.Add(seq(reset, append([]byte{1, 1, 1, 0, 4}, make([]byte, 32)...)))
	f.Add(seq(reset, []byte{1, 1, 1, 1, 4, 0x78, 0xda, 0x63, 0x60, 0x00, 0x82, 0x0f, 0x0c, 0x68, 0x00, 0x21, 0x00, 0x00, 0x22, 0xd0, 0x01, 0xe1}))
	f.Add(seq(reset, append([]byte{1, 1, 2, 0, 8}, make([]byte, 32)...), append([]byte{1, 2, 2, 0, 8}, make([]byte, 32)...)))
	f.Add(seq([]byte{0, 0x10, 0, 0, 0, 1}, []byte{1, 1, 1, 0, 1, 0x81, 0x18}))
	f.Add(seq([]byte{1, 1, 1, 0, 4, 0}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r QRPReceiver
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			if n > len(in) {
				n = len(in)
			}
			tb, err := r.HandlePayload(in[:n])
			in = in[n:]
			if err != nil {
				continue
			}
			if tb != nil {
				require.LessOrEqual(t, tb.Len(), MaxQRPTableLen)
				require.LessOrEqual(t, tb.Count(), tb.Len())
				require.Same(t, tb, r.Table())
			}
		}
	})
}

func BenchmarkQRPPatchApply(b *testing.B) {
	tb := bigTable(16, 600)
	for _, compress := range []bool{true, false} {
		reset, patches := tb.Messages(0, compress)
		b.Run(fmt.Sprintf("compressed=%v", compress), func(b *testing.B) {
			var r QRPReceiver
			b.ReportAllocs()
			b.SetBytes(int64(tb.Len() / 2)) // 4-bit patch array bytes applied
			for b.Loop() {
				if _, err := r.Handle(&reset, nil); err != nil {
					b.Fatal(err)
				}
				for i := range patches {
					if _, err := r.Handle(nil, &patches[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkQRPTableMessages(b *testing.B) {
	for _, bits := range []uint{16, 21} {
		tb := bigTable(bits, 600<<(bits-16))
		for _, compress := range []bool{true, false} {
			b.Run(fmt.Sprintf("bits=%d/compressed=%v", bits, compress), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(tb.Len() / 2))
				for b.Loop() {
					_, _ = tb.Messages(0, compress)
				}
			})
		}
	}
}

func BenchmarkQRPTableResize(b *testing.B) {
	tb := bigTable(16, 600)
	b.ReportAllocs()
	b.SetBytes(int64(tb.Len() / 8))
	for b.Loop() {
		_ = tb.Resize(21)
	}
}

// A receiver does not keep a large compressed sequence's buffer once the
// table is complete.
func TestQRPReceiverReleasesLargeBuffer(t *testing.T) {
	tb := NewQRPTable(21)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		tb.Set(rng.Uint32N(uint32(tb.Len())))
	}
	reset, patches := tb.Messages(2, true)
	size := 0
	for _, p := range patches {
		size += len(p.Data)
	}
	require.Greater(t, size, qrpKeepZData)
	var r QRPReceiver
	_, err := r.Handle(&reset, nil)
	require.NoError(t, err)
	var got *QRPTable
	for i := range patches {
		got, err = r.Handle(nil, &patches[i])
		require.NoError(t, err)
	}
	require.True(t, got.Equal(tb))
	require.LessOrEqual(t, cap(r.zdata), qrpKeepZData)
}
