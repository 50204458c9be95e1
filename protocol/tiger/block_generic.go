package tiger

import "encoding/binary"

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// round is one of the 24 rounds; the callers rotate the names a, b, c.
func round(a, b, c, x, mul uint64) (uint64, uint64, uint64) {
	c ^= x
	a -= t1[byte(c)] ^ t2[byte(c>>16)] ^ t3[byte(c>>32)] ^ t4[byte(c>>48)]
	b += t4[byte(c>>8)] ^ t3[byte(c>>24)] ^ t2[byte(c>>40)] ^ t1[byte(c>>56)]
	return a, b * mul, c
}

// blockGeneric runs the compression function on one 64-byte block.
func blockGeneric(s *[3]uint64, p *[BlockSize]byte) {
	x0 := le64(p[0:])
	x1 := le64(p[8:])
	x2 := le64(p[16:])
	x3 := le64(p[24:])
	x4 := le64(p[32:])
	x5 := le64(p[40:])
	x6 := le64(p[48:])
	x7 := le64(p[56:])
	a, b, c := s[0], s[1], s[2]

	a, b, c = round(a, b, c, x0, 5)
	b, c, a = round(b, c, a, x1, 5)
	c, a, b = round(c, a, b, x2, 5)
	a, b, c = round(a, b, c, x3, 5)
	b, c, a = round(b, c, a, x4, 5)
	c, a, b = round(c, a, b, x5, 5)
	a, b, c = round(a, b, c, x6, 5)
	b, c, a = round(b, c, a, x7, 5)

	x0 -= x7 ^ 0xA5A5A5A5A5A5A5A5
	x1 ^= x0
	x2 += x1
	x3 -= x2 ^ (^x1 << 19)
	x4 ^= x3
	x5 += x4
	x6 -= x5 ^ (^x4 >> 23)
	x7 ^= x6
	x0 += x7
	x1 -= x0 ^ (^x7 << 19)
	x2 ^= x1
	x3 += x2
	x4 -= x3 ^ (^x2 >> 23)
	x5 ^= x4
	x6 += x5
	x7 -= x6 ^ 0x0123456789ABCDEF

	c, a, b = round(c, a, b, x0, 7)
	a, b, c = round(a, b, c, x1, 7)
	b, c, a = round(b, c, a, x2, 7)
	c, a, b = round(c, a, b, x3, 7)
	a, b, c = round(a, b, c, x4, 7)
	b, c, a = round(b, c, a, x5, 7)
	c, a, b = round(c, a, b, x6, 7)
	a, b, c = round(a, b, c, x7, 7)

	x0 -= x7 ^ 0xA5A5A5A5A5A5A5A5
	x1 ^= x0
	x2 += x1
	x3 -= x2 ^ (^x1 << 19)
	x4 ^= x3
	x5 += x4
	x6 -= x5 ^ (^x4 >> 23)
	x7 ^= x6
	x0 += x7
	x1 -= x0 ^ (^x7 << 19)
	x2 ^= x1
	x3 += x2
	x4 -= x3 ^ (^x2 >> 23)
	x5 ^= x4
	x6 += x5
	x7 -= x6 ^ 0x0123456789ABCDEF

	b, c, a = round(b, c, a, x0, 9)
	c, a, b = round(c, a, b, x1, 9)
	a, b, c = round(a, b, c, x2, 9)
	b, c, a = round(b, c, a, x3, 9)
	c, a, b = round(c, a, b, x4, 9)
	a, b, c = round(a, b, c, x5, 9)
	b, c, a = round(b, c, a, x6, 9)
	c, a, b = round(c, a, b, x7, 9)

	s[0] ^= a
	s[1] = b - s[1]
	s[2] += c
}

// block2Generic runs the compression function on two independent blocks,
// one round of each in turn, so that the processor overlaps their chains
// of table loads.
func block2Generic(s, t *[3]uint64, p, q *[BlockSize]byte) {
	x0 := le64(p[0:])
	x1 := le64(p[8:])
	x2 := le64(p[16:])
	x3 := le64(p[24:])
	x4 := le64(p[32:])
	x5 := le64(p[40:])
	x6 := le64(p[48:])
	x7 := le64(p[56:])
	y0 := le64(q[0:])
	y1 := le64(q[8:])
	y2 := le64(q[16:])
	y3 := le64(q[24:])
	y4 := le64(q[32:])
	y5 := le64(q[40:])
	y6 := le64(q[48:])
	y7 := le64(q[56:])
	a, b, c := s[0], s[1], s[2]
	A, B, C := t[0], t[1], t[2]

	a, b, c = round(a, b, c, x0, 5)
	A, B, C = round(A, B, C, y0, 5)
	b, c, a = round(b, c, a, x1, 5)
	B, C, A = round(B, C, A, y1, 5)
	c, a, b = round(c, a, b, x2, 5)
	C, A, B = round(C, A, B, y2, 5)
	a, b, c = round(a, b, c, x3, 5)
	A, B, C = round(A, B, C, y3, 5)
	b, c, a = round(b, c, a, x4, 5)
	B, C, A = round(B, C, A, y4, 5)
	c, a, b = round(c, a, b, x5, 5)
	C, A, B = round(C, A, B, y5, 5)
	a, b, c = round(a, b, c, x6, 5)
	A, B, C = round(A, B, C, y6, 5)
	b, c, a = round(b, c, a, x7, 5)
	B, C, A = round(B, C, A, y7, 5)

	x0 -= x7 ^ 0xA5A5A5A5A5A5A5A5
	x1 ^= x0
	x2 += x1
	x3 -= x2 ^ (^x1 << 19)
	x4 ^= x3
	x5 += x4
	x6 -= x5 ^ (^x4 >> 23)
	x7 ^= x6
	x0 += x7
	x1 -= x0 ^ (^x7 << 19)
	x2 ^= x1
	x3 += x2
	x4 -= x3 ^ (^x2 >> 23)
	x5 ^= x4
	x6 += x5
	x7 -= x6 ^ 0x0123456789ABCDEF
	y0 -= y7 ^ 0xA5A5A5A5A5A5A5A5
	y1 ^= y0
	y2 += y1
	y3 -= y2 ^ (^y1 << 19)
	y4 ^= y3
	y5 += y4
	y6 -= y5 ^ (^y4 >> 23)
	y7 ^= y6
	y0 += y7
	y1 -= y0 ^ (^y7 << 19)
	y2 ^= y1
	y3 += y2
	y4 -= y3 ^ (^y2 >> 23)
	y5 ^= y4
	y6 += y5
	y7 -= y6 ^ 0x0123456789ABCDEF

	c, a, b = round(c, a, b, x0, 7)
	C, A, B = round(C, A, B, y0, 7)
	a, b, c = round(a, b, c, x1, 7)
	A, B, C = round(A, B, C, y1, 7)
	b, c, a = round(b, c, a, x2, 7)
	B, C, A = round(B, C, A, y2, 7)
	c, a, b = round(c, a, b, x3, 7)
	C, A, B = round(C, A, B, y3, 7)
	a, b, c = round(a, b, c, x4, 7)
	A, B, C = round(A, B, C, y4, 7)
	b, c, a = round(b, c, a, x5, 7)
	B, C, A = round(B, C, A, y5, 7)
	c, a, b = round(c, a, b, x6, 7)
	C, A, B = round(C, A, B, y6, 7)
	a, b, c = round(a, b, c, x7, 7)
	A, B, C = round(A, B, C, y7, 7)

	x0 -= x7 ^ 0xA5A5A5A5A5A5A5A5
	x1 ^= x0
	x2 += x1
	x3 -= x2 ^ (^x1 << 19)
	x4 ^= x3
	x5 += x4
	x6 -= x5 ^ (^x4 >> 23)
	x7 ^= x6
	x0 += x7
	x1 -= x0 ^ (^x7 << 19)
	x2 ^= x1
	x3 += x2
	x4 -= x3 ^ (^x2 >> 23)
	x5 ^= x4
	x6 += x5
	x7 -= x6 ^ 0x0123456789ABCDEF
	y0 -= y7 ^ 0xA5A5A5A5A5A5A5A5
	y1 ^= y0
	y2 += y1
	y3 -= y2 ^ (^y1 << 19)
	y4 ^= y3
	y5 += y4
	y6 -= y5 ^ (^y4 >> 23)
	y7 ^= y6
	y0 += y7
	y1 -= y0 ^ (^y7 << 19)
	y2 ^= y1
	y3 += y2
	y4 -= y3 ^ (^y2 >> 23)
	y5 ^= y4
	y6 += y5
	y7 -= y6 ^ 0x0123456789ABCDEF

	b, c, a = round(b, c, a, x0, 9)
	B, C, A = round(B, C, A, y0, 9)
	c, a, b = round(c, a, b, x1, 9)
	C, A, B = round(C, A, B, y1, 9)
	a, b, c = round(a, b, c, x2, 9)
	A, B, C = round(A, B, C, y2, 9)
	b, c, a = round(b, c, a, x3, 9)
	B, C, A = round(B, C, A, y3, 9)
	c, a, b = round(c, a, b, x4, 9)
	C, A, B = round(C, A, B, y4, 9)
	a, b, c = round(a, b, c, x5, 9)
	A, B, C = round(A, B, C, y5, 9)
	b, c, a = round(b, c, a, x6, 9)
	B, C, A = round(B, C, A, y6, 9)
	c, a, b = round(c, a, b, x7, 9)
	C, A, B = round(C, A, B, y7, 9)

	s[0] ^= a
	s[1] = b - s[1]
	s[2] += c
	t[0] ^= A
	t[1] = B - t[1]
	t[2] += C
}
