package servent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/hitfilter"
)

// loadFilter reads the spam and hostile lists: DataDir's spam.txt and
// hostiles.txt when present, and every file the user named (which must
// exist). Entries gtk-gnutella would skip are skipped and logged.
func loadFilter(cfg Config, log *slog.Logger) (*hitfilter.Filter, error) {
	read := func(own string, named []string, parse func(io.Reader, string) (int, hitfilter.Load)) error {
		files := named
		if cfg.DataDir != "" {
			p := filepath.Join(cfg.DataDir, own)
			if _, err := os.Stat(p); err == nil {
				files = append([]string{p}, named...)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("list: %w", err)
			}
			n, ld := parse(f, name)
			_ = f.Close()
			if ld.Stopped != nil {
				return fmt.Errorf("list %s: %w", name, ld.Stopped)
			}
			log.Info("list loaded", "file", name, "entries", n, "skipped", ld.Damaged)
			for _, p := range ld.Problems {
				log.Debug("list entry skipped", "file", name, "problem", p.String())
			}
		}
		return nil
	}
	var spamText, hostileText strings.Builder
	err := read("spam.txt", cfg.SpamLists, func(r io.Reader, name string) (int, hitfilter.Load) {
		b, err := io.ReadAll(io.LimitReader(r, maxListBytes))
		if err != nil {
			return 0, hitfilter.Load{Stopped: err}
		}
		_, ld := hitfilter.ParseSpamList(strings.NewReader(string(b)))
		spamText.Write(b)
		spamText.WriteString("\n")
		return ld.Entries, ld
	})
	if err != nil {
		return nil, err
	}
	err = read("hostiles.txt", cfg.HostileLists, func(r io.Reader, name string) (int, hitfilter.Load) {
		b, err := io.ReadAll(io.LimitReader(r, maxListBytes))
		if err != nil {
			return 0, hitfilter.Load{Stopped: err}
		}
		_, ld := hitfilter.ParseHostiles(strings.NewReader(string(b)))
		hostileText.Write(b)
		hostileText.WriteString("\n")
		return ld.Entries, ld
	})
	if err != nil {
		return nil, err
	}
	spam, _ := hitfilter.ParseSpamList(strings.NewReader(spamText.String()))
	hostiles, _ := hitfilter.ParseHostiles(strings.NewReader(hostileText.String()))
	return hitfilter.New(spam, hostiles, false), nil
}

// maxListBytes bounds a list file (gtk-gnutella's spam.txt is ~500 KB).
const maxListBytes = 64 << 20

// hostile reports whether ip is in the hostile list: never dialled,
// refused at accept (Gnet and HTTP alike, one port).
func (n *Node) hostile(ip netip.Addr) bool { return n.filter.Hostiles.Hostile(ip) }

// takeHit passes a hit for search s through the filter and gives what is
// kept to the search and the downloads; it returns the results kept.
func (n *Node) takeHit(s *Search, hit *protocol.QueryHit) int {
	v := n.filter.Check(s.filterQuery, hit, n.cfg.Now())
	s.countFiltered(&v)
	if kept := v.Kept(); kept < len(hit.Results) {
		if kept == 0 {
			return 0
		}
		h := *hit
		h.Results = make([]protocol.Result, 0, kept)
		for i, r := range v.Results {
			if r == hitfilter.Keep {
				h.Results = append(h.Results, hit.Results[i])
			}
		}
		hit = &h
	}
	s.add(hit)
	n.offerSources(hit)
	return len(hit.Results)
}
