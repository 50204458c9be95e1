package protocol

import (
	"encoding/base32"
	"unicode/utf8"
)

// QRP hash (GNUTELLA.md 4.9): only the low byte of each UTF-16 code unit
// enters the hash, as in LimeWire's charAt(i) & 0xFF. The caller
// canonicalises (lower-cases, strips accents) first.

const qrpGoldenRatio = 0x4F1BBCDC

// QRPHashCode is the full 32-bit QRP hashcode of word.
func QRPHashCode(word string) uint32 {
	var x uint32
	var j uint
	mix := func(u rune) {
		x ^= uint32(u&0xFF) << j
		j = (j + 8) & 24
	}
	for i := 0; i < len(word); {
		c := rune(word[i])
		if c < utf8.RuneSelf {
			i++
		} else {
			var size int
			c, size = utf8.DecodeRuneInString(word[i:])
			i += size
		}
		if c > 0xFFFF {
			c -= 0x10000
			mix(0xD800 + (c>>10)&0x3FF)
			mix(0xDC00 + c&0x3FF)
			continue
		}
		mix(c)
	}
	return x * qrpGoldenRatio
}

// QRPHash is the top bits of QRPHashCode: a slot in a 2^bits table.
// bits must be in 1..32.
func QRPHash(word string, bits uint) uint32 {
	return QRPHashCode(word) >> (32 - bits)
}

// QRPURNCode is the QRP hashcode of a sha1 urn as LimeWire puts it in its
// table: LimeWire's HashFunction lower-cases every character it hashes, so
// the string is "urn:sha1:" plus lower-case base32. (GTKG and GnutellaBun
// put no urns in their tables.)
func QRPURNCode(s SHA1) uint32 {
	var buf [len(sha1URNPrefix) + sha1Base32Len]byte
	copy(buf[:], sha1URNPrefix)
	base32.StdEncoding.Encode(buf[len(sha1URNPrefix):], s[:])
	var x uint32
	var j uint
	for _, c := range buf {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		x ^= uint32(c) << j
		j = (j + 8) & 24
	}
	return x * qrpGoldenRatio
}
