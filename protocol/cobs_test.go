package protocol

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func byteSeq(from, to byte) []byte {
	var b []byte
	for c := int(from); c <= int(to); c++ {
		b = append(b, byte(c))
	}
	return b
}

// GNUTELLA.md 10.4 COBS vectors.
func TestCOBSVectors(t *testing.T) {
	run254 := byteSeq(1, 0xfe)
	tests := []struct {
		name     string
		raw, enc []byte
	}{
		{"empty", []byte{}, []byte{0x01}},
		{"00", []byte{0}, []byte{1, 1}},
		{"00 00", []byte{0, 0}, []byte{1, 1, 1}},
		{"61 00 62", []byte{0x61, 0, 0x62}, []byte{2, 0x61, 2, 0x62}},
		{"11 22 00 33", []byte{0x11, 0x22, 0, 0x33}, []byte{3, 0x11, 0x22, 2, 0x33}},
		{"254 non-zero", run254, append([]byte{0xff}, run254...)},
		{"254 non-zero + 00", append(append([]byte{}, run254...), 0), append(append([]byte{0xff}, run254...), 1, 1)},
		{"G5 data", []byte{0x11, 0, 0x22, 0, 0, 0x33}, []byte{0x02, 0x11, 0x02, 0x22, 0x01, 0x02, 0x33}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := AppendCOBS(nil, tt.raw)
			require.Equal(t, tt.enc, enc)
			require.NotContains(t, string(enc), "\x00")
			dec, err := AppendCOBSDecode(nil, tt.enc)
			require.NoError(t, err)
			require.Equal(t, tt.raw, append([]byte{}, dec...))
		})
	}
	require.Len(t, AppendCOBS(nil, run254), 255)
	require.Len(t, AppendCOBS(nil, append(append([]byte{}, run254...), 0)), 257)
}

func TestCOBSLongRuns(t *testing.T) {
	for _, n := range []int{253, 254, 255, 508, 509, 1000} {
		raw := bytes.Repeat([]byte{7}, n)
		for _, data := range [][]byte{raw, append(append([]byte{}, raw...), 0), append([]byte{0}, raw...)} {
			enc := AppendCOBS([]byte("prefix"), data)
			require.Equal(t, "prefix", string(enc[:6]))
			require.NotContains(t, string(enc[6:]), "\x00")
			dec, err := AppendCOBSDecode(nil, enc[6:])
			require.NoError(t, err)
			require.Equal(t, data, dec, "n=%d", n)
		}
	}
}

func TestCOBSDecodeErrors(t *testing.T) {
	for _, bad := range [][]byte{{0x00}, {0x03, 0x11}, {0x02, 0x00}, {0x05, 1, 2, 3}} {
		_, err := AppendCOBSDecode(nil, bad)
		require.ErrorIs(t, err, ErrMalformed, "% x", bad)
	}
}

func FuzzCOBS(f *testing.F) {
	f.Add([]byte{}, []byte{0x01})
	f.Add([]byte{0x11, 0, 0x22, 0, 0, 0x33}, []byte{0x02, 0x11, 0x02, 0x22, 0x01, 0x02, 0x33})
	f.Add(append(byteSeq(1, 0xfe), 0), append(append([]byte{0xff}, byteSeq(1, 0xfe)...), 1, 1))
	f.Fuzz(func(t *testing.T, raw, enc []byte) {
		// Property 1: any data round-trips and the encoding holds no 00.
		e := AppendCOBS(nil, raw)
		require.NotContains(t, string(e), "\x00")
		require.LessOrEqual(t, len(e), len(raw)+len(raw)/254+1)
		d, err := AppendCOBSDecode(nil, e)
		require.NoError(t, err)
		require.True(t, bytes.Equal(raw, d))
		// Property 2: decoding arbitrary bytes never panics, and what
		// decodes re-encodes to something that decodes the same.
		d, err = AppendCOBSDecode(nil, enc)
		if err != nil {
			return
		}
		d2, err := AppendCOBSDecode(nil, AppendCOBS(nil, d))
		require.NoError(t, err)
		require.True(t, bytes.Equal(d, d2))
	})
}
