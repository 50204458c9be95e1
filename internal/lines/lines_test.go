package lines

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func collect(in string, maxLine, maxBytes, stopAfter int) ([]string, error) {
	var got []string
	err := Each(strings.NewReader(in), maxLine, maxBytes, func(l []byte) bool {
		got = append(got, string(l))
		return len(got) != stopAfter
	})
	return got, err
}

func TestEach(t *testing.T) {
	long := strings.Repeat("x", 40)
	got, err := collect("a\n"+long+"\nb\r\n\nc", 16, 1000, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"a\n", "b\r\n", "\n", "c"}, got, "the long line skipped")

	got, err = collect("a\nb\nc\n", 16, 1000, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"a\n", "b\n"}, got, "fn stops it")

	got, err = collect("a\nb\nc\nd\n", 16, 5, 0)
	require.ErrorIs(t, err, ErrTooLarge)
	require.Equal(t, []string{"a\n", "b\n"}, got, "lines before the limit")

	got, err = collect("", 16, 5, 0)
	require.NoError(t, err)
	require.Empty(t, got)
}

func FuzzEach(f *testing.F) {
	f.Add([]byte("a\nbb\n"), uint8(16), uint16(100))
	f.Fuzz(func(t *testing.T, b []byte, maxLine uint8, maxBytes uint16) {
		total := 0
		_ = Each(strings.NewReader(string(b)), int(maxLine), int(maxBytes), func(l []byte) bool {
			require.LessOrEqual(t, len(l), max(int(maxLine), 16), "bufio's least buffer is 16")
			total += len(l)
			return true
		})
		require.LessOrEqual(t, total, int(maxBytes)+1)
	})
}
