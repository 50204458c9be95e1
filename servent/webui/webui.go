// Package webui is the browser interface served by the daemon on the
// control API's address (issue 17): static HTML, CSS and JavaScript
// embedded in the binary, no build step, no CDN. The page talks to the
// control API with the browser session the api package gives it, and
// follows GET /api/events (Server-Sent Events) for live updates.
package webui

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS is the UI's files, index.html at the root.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	return sub
}
