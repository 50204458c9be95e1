package api

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocumentedStates (issue 9 item 13): docs/api.md lists exactly the
// download states the API gives. Before, it listed queued and cancelled,
// which never appear.
func TestDocumentedStates(t *testing.T) {
	b, err := os.ReadFile("../../docs/api.md")
	require.NoError(t, err)
	doc := string(b)
	start := strings.Index(doc, "### GET /api/downloads\n")
	require.NotEqual(t, -1, start)
	sect := doc[start:]
	sect = sect[:strings.Index(sect, "```")]
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^- `([a-z-]+)`:").FindAllStringSubmatch(sect, -1) {
		documented = append(documented, m[1])
	}
	require.ElementsMatch(t, DownloadStates, documented)
}
