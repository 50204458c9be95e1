package guess

import "net/netip"

// Asked reports whether host was sent the query (or asked for a key) by
// this search: hits and acknowledgements from anyone else are not ours.
func (s *Search) Asked(host netip.AddrPort) bool {
	if _, ok := s.pending[host]; ok {
		return true
	}
	_, ok := s.asked[host]
	return ok
}
