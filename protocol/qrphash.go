package protocol

import "unicode/utf8"

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
