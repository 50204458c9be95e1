package protocol

import (
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/servent/servent/protocol/internal/textwire"
)

// TTH is a Tiger tree root (THEX, GNUTELLA-TRANSFERS.md 23): 24 bytes,
// written in base32 (RFC 4648, upper case, no padding) as 39 characters.
// protocol/thex names the same type thex.Hash.
//
// A root has four urn forms (23.2): urn:tree:tiger:, the RAZA form
// urn:tree:tiger/:, LimeWire's urn:ttroot: and, with the SHA-1 first,
// urn:bitprint:. The parsers read them all, prefix and digits in any
// case, and accept one spelling of each root: exactly 39 characters, with
// the three unused low bits of the last one zero.
type TTH [24]byte

const (
	tthBase32Len    = 39
	tigerURNPrefix  = "urn:tree:tiger:"
	tigerURNPrefix2 = "urn:tree:tiger/:" // the RAZA form gtk-gnutella also accepts
	ttrootURNPrefix = "urn:ttroot:"      // LimeWire's, printed by gtk-gnutella's shell
	bitprintURNLen  = len(bitprintURNPrefix) + sha1Base32Len + 1 + tthBase32Len
)

var b32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// IsZero reports whether the root is unset.
func (t TTH) IsZero() bool { return t == TTH{} }

// Base32 is the 39-character base32 form.
func (t TTH) Base32() string { return b32NoPad.EncodeToString(t[:]) }

// URN is "urn:tree:tiger/:<39>", the form magnets carry.
func (t TTH) URN() string { return tigerURNPrefix2 + t.Base32() }

// TreeURN is "urn:tree:tiger:<39>", without the slash.
func (t TTH) TreeURN() string { return tigerURNPrefix + t.Base32() }

// TTRootURN is "urn:ttroot:<39>".
func (t TTH) TTRootURN() string { return ttrootURNPrefix + t.Base32() }

// String is the same as URN.
func (t TTH) String() string { return t.URN() }

// BitprintURN is "urn:bitprint:<32 sha1>.<39 tth>".
func BitprintURN(s SHA1, t TTH) string {
	return bitprintURNPrefix + s.Base32() + "." + t.Base32()
}

// ParseTTHBase32 reads the 39 base32 characters of a root, either case
// (also the form after ";" in X-Thex-URI). The three unused low bits of
// the last character must be zero (it is A, I, Q or Y), so that a root
// has one spelling.
func ParseTTHBase32(digits string) (TTH, error) {
	if len(digits) != tthBase32Len {
		return TTH{}, fmt.Errorf("%w: tiger tree root of %d base32 characters, want 39", ErrMalformed, len(digits))
	}
	var up [tthBase32Len]byte
	for i := range up {
		c := digits[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	var out TTH
	if n, err := b32NoPad.Decode(out[:], up[:]); err != nil || n != len(out) {
		return TTH{}, fmt.Errorf("%w: tiger tree root %q is not base32", ErrMalformed, digits)
	}
	if strings.IndexByte("AIQY", up[tthBase32Len-1]) < 0 {
		return TTH{}, fmt.Errorf("%w: tiger tree root %q has unused bits set", ErrMalformed, digits)
	}
	return out, nil
}

// ParseTTHURN reads a root from "urn:tree:tiger:<39>", "urn:tree:tiger/:<39>",
// "urn:ttroot:<39>" or the second half of "urn:bitprint:<32>.<39>".
func ParseTTHURN(s string) (TTH, error) {
	for _, p := range []string{tigerURNPrefix, tigerURNPrefix2, ttrootURNPrefix} {
		if textwire.HasPrefixFold(s, p) {
			return ParseTTHBase32(s[len(p):])
		}
	}
	if textwire.HasPrefixFold(s, bitprintURNPrefix) {
		_, t, err := ParseBitprintURN(s)
		return t, err
	}
	return TTH{}, fmt.Errorf("%w: not a tiger tree urn: %.60q", ErrMalformed, s)
}

// ParseBitprintURN reads "urn:bitprint:<32 base32 sha1>.<39 base32 tth>",
// exactly 85 characters, prefix and digits in any case.
func ParseBitprintURN(s string) (SHA1, TTH, error) {
	if !textwire.HasPrefixFold(s, bitprintURNPrefix) {
		return SHA1{}, TTH{}, fmt.Errorf("%w: not a bitprint urn: %.60q", ErrMalformed, s)
	}
	if len(s) != bitprintURNLen || s[len(bitprintURNPrefix)+sha1Base32Len] != '.' {
		return SHA1{}, TTH{}, fmt.Errorf("%w: bitprint urn %.100q is not urn:bitprint:<32>.<39>", ErrMalformed, s)
	}
	rest := s[len(bitprintURNPrefix):]
	sh, err := ParseSHA1Base32(rest[:sha1Base32Len])
	if err != nil {
		return SHA1{}, TTH{}, err
	}
	t, err := ParseTTHBase32(rest[sha1Base32Len+1:])
	if err != nil {
		return SHA1{}, TTH{}, err
	}
	return sh, t, nil
}
