package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeywords(t *testing.T) {
	cases := map[string][]string{
		"Café-Naïve.MP3":         {"cafe", "naive", "mp3"},
		"alpha beta":             {"alpha", "beta"},
		"  Straße__Übung ":       {"strasse", "ubung"},
		"Кино Фильм.avi":         {"кино", "фильм", "avi"},
		"日本語 テスト":                {"日本語", "テスト"},
		"":                       nil,
		"!!!":                    nil,
		"The.Beatles-Help(1965)": {"the", "beatles", "help", "1965"},
	}
	for in, want := range cases {
		require.Equal(t, want, Keywords(in), in)
	}
	require.Equal(t, uint32(9713), QRPHash(Keywords("Café")[0], 16))
}
