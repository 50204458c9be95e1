package protocol

// trailingGGEP parses an optional GGEP block at the start of b into dst[:0]
// (reusing its storage). Anything else, or a malformed block, is dropped
// without error: GNUTELLA.md 5 says to keep a descriptor whose fixed part is
// valid. It returns nil rather than an empty slice when nothing was kept.
func trailingGGEP(dst GGEP, b []byte) GGEP {
	budget := MaxGGEPInflate
	return trailingGGEPBudget(dst, b, &budget)
}

// trailingGGEPBudget is trailingGGEP with a shared inflate budget (see
// parseGGEPBudget).
func trailingGGEPBudget(dst GGEP, b []byte, budget *int) GGEP {
	clear(dst)
	dst = dst[:0]
	if len(b) == 0 || b[0] != ggepMagic {
		return nilIfEmpty(dst)
	}
	dst, _, _ = parseGGEPBudget(dst, b, budget)
	return nilIfEmpty(dst)
}

func nilIfEmpty(g GGEP) GGEP {
	if len(g) == 0 && cap(g) == 0 {
		return nil
	}
	return g
}

// Decode reads a Ping payload: empty, or a GGEP block. It never fails: a
// malformed block or other trailing bytes are dropped (GTKG answers such
// pings as plain ones).
func (m *Ping) Decode(payload []byte) error {
	m.GGEP = trailingGGEP(m.GGEP, payload)
	return nil
}

// Append appends the Ping payload (the GGEP block, if any).
func (m *Ping) Append(dst []byte) []byte { return m.GGEP.Append(dst) }
