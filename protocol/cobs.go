package protocol

import "fmt"

// COBS as GTKG's cobs.c does it (GNUTELLA.md 5): Consistent Overhead Byte
// Stuffing without the trailing frame delimiter. The data is split at each
// 00; every chunk goes out as (len+1) followed by the chunk; a full run of 254
// non-zero bytes is FF + 254 bytes with no implied zero; the zero implied by
// the last chunk is dropped, so empty input encodes as 01.

// AppendCOBS appends the COBS encoding of src to dst. The output holds no 00
// byte and is at most len(src) + len(src)/254 + 1 bytes.
func AppendCOBS(dst, src []byte) []byte {
	codeAt := len(dst)
	dst = append(dst, 0) // placeholder for the group's code
	code := byte(1)
	lastFull := false // the open group follows a full 254-byte run
	for _, c := range src {
		if c == 0 {
			dst[codeAt] = code
			codeAt = len(dst)
			dst = append(dst, 0)
			code, lastFull = 1, false
			continue
		}
		dst = append(dst, c)
		code++
		if code == 0xFF {
			dst[codeAt] = code
			codeAt = len(dst)
			dst = append(dst, 0)
			code, lastFull = 1, true
		}
	}
	if code == 1 && lastFull {
		// A full run implies no zero, so an empty last group after it says
		// nothing: GTKG leaves it out.
		return dst[:codeAt]
	}
	dst[codeAt] = code
	return dst
}

// AppendCOBSDecode appends the data that COBS-encoded src stands for. A 00
// byte in src, or a code running past the end, is an error wrapping
// ErrMalformed.
func AppendCOBSDecode(dst, src []byte) ([]byte, error) {
	for i := 0; i < len(src); {
		code := src[i]
		if code == 0 {
			return dst, fmt.Errorf("%w: cobs: 00 byte at %d", ErrMalformed, i)
		}
		i++
		n := int(code) - 1
		if n > len(src)-i {
			return dst, fmt.Errorf("%w: cobs: group of %d bytes at %d runs past the end (%d)", ErrMalformed, n, i-1, len(src))
		}
		for _, c := range src[i : i+n] {
			if c == 0 {
				return dst, fmt.Errorf("%w: cobs: 00 byte inside a group", ErrMalformed)
			}
		}
		dst = append(dst, src[i:i+n]...)
		i += n
		if code != 0xFF && i < len(src) {
			dst = append(dst, 0)
		}
	}
	return dst, nil
}
