package protocol

import (
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/servent/servent/protocol/internal/textwire"
)

// HUGE 0.94 urns (GNUTELLA.md section 6).

const (
	sha1URNPrefix     = "urn:sha1:"
	bitprintURNPrefix = "urn:bitprint:"
	sha1Base32Len     = 32
)

// URN is the digest as "urn:sha1:" + 32 upper-case base32 characters.
func (s SHA1) URN() string {
	return string(s.AppendURN(make([]byte, 0, len(sha1URNPrefix)+sha1Base32Len)))
}

// String is the same as URN.
func (s SHA1) String() string { return s.URN() }

// Base32 is the 32-character base32 form without the prefix.
func (s SHA1) Base32() string { return base32.StdEncoding.EncodeToString(s[:]) }

// IsZero reports whether the digest is unset.
func (s SHA1) IsZero() bool { return s == SHA1{} }

// AppendURN appends "urn:sha1:<base32>".
func (s SHA1) AppendURN(dst []byte) []byte {
	dst = append(dst, sha1URNPrefix...)
	return base32.StdEncoding.AppendEncode(dst, s[:])
}

// ParseSHA1URN reads "urn:sha1:<32 base32>" or
// "urn:bitprint:<32 base32>.<39 base32>", prefix and digits in either case.
func ParseSHA1URN(s string) (SHA1, error) {
	var digits string
	switch {
	case textwire.HasPrefixFold(s, sha1URNPrefix):
		digits = s[len(sha1URNPrefix):]
	case textwire.HasPrefixFold(s, bitprintURNPrefix):
		digits = s[len(bitprintURNPrefix):]
		if dot := strings.IndexByte(digits, '.'); dot >= 0 {
			digits = digits[:dot]
		}
	default:
		return SHA1{}, fmt.Errorf("%w: not a sha1 urn: %.60q", ErrMalformed, s)
	}
	return ParseSHA1Base32(digits)
}

// ParseSHA1Base32 reads the 32 base32 characters of a sha1 urn, either case.
func ParseSHA1Base32(digits string) (SHA1, error) {
	var out SHA1
	if len(digits) != sha1Base32Len {
		return out, fmt.Errorf("%w: sha1 base32 has %d characters, want 32", ErrMalformed, len(digits))
	}
	var up [sha1Base32Len]byte
	for i := 0; i < sha1Base32Len; i++ {
		c := digits[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	n, err := base32.StdEncoding.Decode(out[:], up[:])
	if err != nil || n != len(out) {
		return SHA1{}, fmt.Errorf("%w: bad sha1 base32 %q", ErrMalformed, digits)
	}
	return out, nil
}
