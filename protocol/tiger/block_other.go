//go:build !amd64 || purego

package tiger

func block(s *[3]uint64, p *[BlockSize]byte) { blockGeneric(s, p) }

func block2(s, t *[3]uint64, p, q *[BlockSize]byte) { block2Generic(s, t, p, q) }

func block3(s, t, u *[3]uint64, p, q, r *[BlockSize]byte) {
	block2Generic(s, t, p, q)
	blockGeneric(u, r)
}
