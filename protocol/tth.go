package protocol

import (
	"encoding/base32"
	"fmt"
	"strings"
)

// TTH is a Tiger tree root (THEX, GNUTELLA-TRANSFERS.md 23): 24 bytes,
// written in base32 as 39 characters without padding.
type TTH [24]byte

const (
	tthBase32Len    = 39
	tigerURNPrefix  = "urn:tree:tiger:"
	tigerURNPrefix2 = "urn:tree:tiger/:" // the RAZA form gtk-gnutella also accepts
	ttrootURNPrefix = "urn:ttroot:"      // LimeWire's, printed by gtk-gnutella's shell
)

var b32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// IsZero reports whether the root is unset.
func (t TTH) IsZero() bool { return t == TTH{} }

// Base32 is the 39-character base32 form.
func (t TTH) Base32() string { return b32NoPad.EncodeToString(t[:]) }

// URN is "urn:tree:tiger/:<39>", the form magnets carry.
func (t TTH) URN() string { return tigerURNPrefix2 + t.Base32() }

// String is the same as URN.
func (t TTH) String() string { return t.URN() }

// BitprintURN is "urn:bitprint:<32 sha1>.<39 tth>".
func BitprintURN(s SHA1, t TTH) string {
	return bitprintURNPrefix + s.Base32() + "." + t.Base32()
}

// ParseTTHBase32 reads the 39 base32 characters of a root, either case.
func ParseTTHBase32(digits string) (TTH, error) {
	var out TTH
	if len(digits) != tthBase32Len {
		return out, fmt.Errorf("%w: tiger tree root has %d base32 characters, want 39", ErrMalformed, len(digits))
	}
	n, err := b32NoPad.Decode(out[:], []byte(strings.ToUpper(digits)))
	if err != nil || n != len(out) {
		return TTH{}, fmt.Errorf("%w: bad tiger tree root %q", ErrMalformed, digits)
	}
	return out, nil
}

// ParseTTHURN reads a root from "urn:tree:tiger:<39>", "urn:tree:tiger/:<39>",
// "urn:ttroot:<39>" or the second half of "urn:bitprint:<32>.<39>".
func ParseTTHURN(s string) (TTH, error) {
	for _, p := range []string{tigerURNPrefix, tigerURNPrefix2, ttrootURNPrefix} {
		if hasPrefixFold(s, p) {
			return ParseTTHBase32(s[len(p):])
		}
	}
	if hasPrefixFold(s, bitprintURNPrefix) {
		_, t, err := ParseBitprintURN(s)
		return t, err
	}
	return TTH{}, fmt.Errorf("%w: not a tiger tree urn: %.60q", ErrMalformed, s)
}

// ParseBitprintURN reads "urn:bitprint:<32 base32 sha1>.<39 base32 tth>".
func ParseBitprintURN(s string) (SHA1, TTH, error) {
	if !hasPrefixFold(s, bitprintURNPrefix) {
		return SHA1{}, TTH{}, fmt.Errorf("%w: not a bitprint urn: %.60q", ErrMalformed, s)
	}
	sha, tth, ok := strings.Cut(s[len(bitprintURNPrefix):], ".")
	if !ok {
		return SHA1{}, TTH{}, fmt.Errorf("%w: bitprint without '.': %.60q", ErrMalformed, s)
	}
	sh, err := ParseSHA1Base32(sha)
	if err != nil {
		return SHA1{}, TTH{}, err
	}
	t, err := ParseTTHBase32(tth)
	if err != nil {
		return SHA1{}, TTH{}, err
	}
	return sh, t, nil
}
