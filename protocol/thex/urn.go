package thex

import (
	"strings"
)

// The names of a root (GNUTELLA-TRANSFERS.md 23.2): base32 (RFC 4648,
// upper case, no padding), 39 characters, in urn:tree:tiger:, the RAZA
// form urn:tree:tiger/:, LimeWire's urn:ttroot: and, with the SHA-1 first,
// urn:bitprint:.

const (
	// TreeURNPrefix is the prefix URN writes.
	TreeURNPrefix = "urn:tree:tiger:"
	// TTRootURNPrefix is LimeWire's prefix (gtk-gnutella prints it too).
	TTRootURNPrefix = "urn:ttroot:"
	// BitprintURNPrefix starts a bitprint: SHA-1 "." root.
	BitprintURNPrefix = "urn:bitprint:"

	razaURNPrefix = "urn:tree:tiger/:"
	// Base32Len is the length of a root in base32.
	Base32Len  = 39
	sha1Base32 = 32
)

// URN is "urn:tree:tiger:" and the base32 root.
func (h Hash) URN() string { return TreeURNPrefix + h.Base32() }

// TTRootURN is "urn:ttroot:" and the base32 root.
func (h Hash) TTRootURN() string { return TTRootURNPrefix + h.Base32() }

// BitprintURN is "urn:bitprint:" + the base32 SHA-1 + "." + the base32 root.
func BitprintURN(sha1 [20]byte, root Hash) string {
	return BitprintURNPrefix + b32.EncodeToString(sha1[:]) + "." + root.Base32()
}

// ParseBase32 reads a root written as 39 base32 characters, in any case
// (the form after ";" in X-Thex-URI). The three unused low bits must be
// zero, so that a root has one spelling.
func ParseBase32(s string) (Hash, error) {
	var h Hash
	if err := decodeBase32(h[:], s, Base32Len); err != nil {
		return Hash{}, err
	}
	return h, nil
}

func decodeBase32(dst []byte, s string, n int) error {
	if len(s) != n {
		return malformed("base32 of %d characters, want %d: %q", len(s), n, clip(s))
	}
	up := strings.ToUpper(s)
	k, err := b32.Decode(dst, []byte(up))
	if err != nil || k != len(dst) || b32.EncodeToString(dst) != up {
		return malformed("bad base32 %q", clip(s))
	}
	return nil
}

// ParseURN reads a root from urn:tree:tiger:, urn:tree:tiger/: or
// urn:ttroot: followed by 39 base32 characters; prefix and digits in any
// case.
func ParseURN(s string) (Hash, error) {
	for _, p := range []string{TreeURNPrefix, razaURNPrefix, TTRootURNPrefix} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return ParseBase32(s[len(p):])
		}
	}
	return Hash{}, malformed("not a tree urn: %q", clip(s))
}

// ParseBitprint reads urn:bitprint:<32 base32 SHA-1>.<39 base32 root>, in
// any case.
func ParseBitprint(s string) (sha1 [20]byte, root Hash, err error) {
	p := BitprintURNPrefix
	if len(s) != len(p)+sha1Base32+1+Base32Len || !strings.EqualFold(s[:len(p)], p) || s[len(p)+sha1Base32] != '.' {
		return sha1, root, malformed("not a bitprint urn: %q", clip(s))
	}
	rest := s[len(p):]
	if err := decodeBase32(sha1[:], rest[:sha1Base32], sha1Base32); err != nil {
		return [20]byte{}, Hash{}, err
	}
	if root, err = ParseBase32(rest[sha1Base32+1:]); err != nil {
		return [20]byte{}, Hash{}, err
	}
	return sha1, root, nil
}
