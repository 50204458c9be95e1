package sharedir

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/servent/servent/protocol"
)

// QRP table sizing (GNUTELLA.md 4.9): 2^16 slots, doubled while more than
// 1% of the slots would be used, up to GTKG's maximum of 2^21.
const (
	qrpMinBits = 16
	qrpMaxBits = 21
	// GTKG qrp.c: QRP_MAX_CUT_CHARS, QRP_MIN_WORD_LENGTH.
	qrpMaxCut     = 5
	qrpMinWordLen = 3
)

// qrpCodes returns the sorted, unique 32-bit QRP hash codes of everything
// this servent puts in its table: every canonical word, the prefixes GTKG's
// unique_substr() adds, and the urn of every hashed file. Distinct codes
// stand for distinct keywords (a 32-bit collision only costs a slot).
func qrpCodes(words []string, urnCodes []uint32) []uint32 {
	codes := make([]uint32, 0, len(words)*3+len(urnCodes))
	for _, w := range words {
		codes = appendPrefixCodes(codes, w)
	}
	codes = append(codes, urnCodes...)
	slices.Sort(codes)
	return slices.Compact(codes)
}

// urnCode is the QRP hashcode of the urn as LimeWire puts it in its table;
// routing.QueryHashes hashes urn queries the same way.
func urnCode(s protocol.SHA1) uint32 { return protocol.QRPURNCode(s) }

// appendPrefixCodes adds word and its prefixes as GTKG's unique_substr():
// cut one character at a time, at most qrpMaxCut times, keeping only
// prefixes longer than qrpMinWordLen bytes ("metal" gives metal, meta).
func appendPrefixCodes(codes []uint32, w string) []uint32 {
	codes = append(codes, protocol.QRPHashCode(w))
	n := len(w)
	for cut := 0; cut < qrpMaxCut && n > qrpMinWordLen; cut++ {
		_, size := utf8.DecodeLastRuneInString(w[:n])
		n -= size
		if n <= qrpMinWordLen {
			break
		}
		codes = append(codes, protocol.QRPHashCode(w[:n]))
	}
	return codes
}

// prefixes lists word and the prefixes appendPrefixCodes hashes (tests).
func prefixes(w string) []string {
	out := []string{w}
	n := len(w)
	for cut := 0; cut < qrpMaxCut && n > qrpMinWordLen; cut++ {
		_, size := utf8.DecodeLastRuneInString(w[:n])
		n -= size
		if n <= qrpMinWordLen {
			break
		}
		out = append(out, w[:n])
	}
	return out
}

// qrpBitsFor sizes the table for n distinct keywords.
func qrpBitsFor(n int) uint {
	bits := uint(qrpMinBits)
	for bits < qrpMaxBits && n > (1<<bits)/100 {
		bits++
	}
	return bits
}

// buildQRP computes the table for the current snapshot.
func (l *Library) buildQRP() *protocol.QRPTable {
	s := l.snap.Load()
	urns := make([]uint32, 0, len(s.files))
	l.mu.RLock()
	for _, e := range s.files {
		if e.hashed {
			urns = append(urns, e.urnCode)
		}
	}
	l.mu.RUnlock()
	return qrpTableOf(qrpCodes(s.words, urns))
}

func qrpTableOf(codes []uint32) *protocol.QRPTable {
	bits := qrpBitsFor(len(codes))
	t := protocol.NewQRPTable(bits)
	for _, c := range codes {
		t.Set(c >> (32 - bits))
	}
	return t
}

// QRPTableFor is the table a library holding files with these names (and
// no hashes yet) would send: the same words, prefixes and sizing as
// Library.QRPTable. The simulator builds its nodes' tables with it.
func QRPTableFor(names []string) *protocol.QRPTable {
	var words []string
	for _, name := range names {
		words = append(words, strings.Fields(canonWords(name))...)
	}
	slices.Sort(words)
	return qrpTableOf(qrpCodes(slices.Compact(words), nil))
}
