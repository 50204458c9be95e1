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
	spamText, err := readLists(cfg.DataDir, "spam.txt", cfg.SpamLists, log, func(r io.Reader) hitfilter.Load {
		_, ld := hitfilter.ParseSpamList(r)
		return ld
	})
	if err != nil {
		return nil, err
	}
	hostileText, err := readLists(cfg.DataDir, "hostiles.txt", cfg.HostileLists, log, func(r io.Reader) hitfilter.Load {
		_, ld := hitfilter.ParseHostiles(r)
		return ld
	})
	if err != nil {
		return nil, err
	}
	spam, _ := hitfilter.ParseSpamList(strings.NewReader(spamText))
	hostiles, _ := hitfilter.ParseHostiles(strings.NewReader(hostileText))
	return hitfilter.New(spam, hostiles, false), nil
}

// readLists reads dataDir/own (when present) and the named files, checks
// each with parse (for the log), and returns them joined.
func readLists(dataDir, own string, named []string, log *slog.Logger, parse func(io.Reader) hitfilter.Load) (string, error) {
	files := named
	if dataDir != "" {
		p := filepath.Join(dataDir, own)
		if _, err := os.Stat(p); err == nil {
			files = append([]string{p}, named...)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: %w", p, err)
		}
	}
	var all strings.Builder
	for _, name := range files {
		b, err := readCapped(name)
		if err != nil {
			return "", fmt.Errorf("list: %w", err)
		}
		ld := parse(strings.NewReader(b))
		if ld.Stopped != nil {
			return "", fmt.Errorf("list %s: %w", name, ld.Stopped)
		}
		log.Info("list loaded", "file", name, "entries", ld.Entries, "skipped", ld.Damaged)
		for _, p := range ld.Problems {
			log.Debug("list entry skipped", "file", name, "problem", p.String())
		}
		all.WriteString(b)
		all.WriteString("\n")
	}
	return all.String(), nil
}

func readCapped(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxListBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxListBytes {
		return "", fmt.Errorf("%s: over %d MiB", name, maxListBytes>>20)
	}
	return string(b), nil
}

// maxListBytes bounds a list file (gtk-gnutella's spam.txt is ~500 KB).
const maxListBytes = 64 << 20

// hostile reports whether ip is in the hostile list: never dialled,
// refused at accept (Gnet and HTTP alike, one port).
func (n *Node) hostile(ip netip.Addr) bool { return n.filter.Hostiles.Hostile(ip) }

// takeHit passes a hit for search s through the filter and gives what is
// kept to the search and the downloads; it returns the results kept.
func (n *Node) takeHit(s *Search, hit *protocol.QueryHit) int {
	if a := n.advertised().Addr(); a.IsValid() {
		// Bogus private addresses only once we are on the open network.
		n.filter.SetOpenNetwork(a.Unmap().IsGlobalUnicast() && !a.Unmap().IsPrivate())
	}
	v := n.filter.Check(s.filterQuery, hit, n.cfg.Now())
	s.countFiltered(&v, hit)
	if kept := v.Kept(); kept < len(hit.Results) {
		if kept == 0 {
			// Reported all the same, as gtk-gnutella's GUI does: our
			// ultrapeers learn that the spam they count is not kept.
			if k, ok := s.keptSoFar(); ok {
				n.coreKept(s.guid, k)
			}
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
	n.stats.resultsKept.Add(uint64(len(hit.Results)))
	if !hit.Push && hit.GGEP.Has("TLS") {
		n.tls.learn(hit.Addr()) // its downloads go over TLS
	}
	if kept, ok := s.add(hit); ok {
		n.coreKept(s.guid, kept)
	}
	n.offerSources(hit)
	return len(hit.Results)
}
