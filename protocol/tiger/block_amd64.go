//go:build amd64 && !purego

package tiger

// block2AMD64 and block3AMD64 (block_amd64.s) run two and three blocks at
// about 1.45 and 1.7 times the speed of single blocks. For one block the
// compiler's code is as fast as assembly: one Tiger is bound by the
// latency of its table loads.

//go:noescape
func block2AMD64(s, t *[3]uint64, p, q *[BlockSize]byte)

//go:noescape
func block3AMD64(s, t, u *[3]uint64, p, q, r *[BlockSize]byte)

func block(s *[3]uint64, p *[BlockSize]byte) { blockGeneric(s, p) }

func block2(s, t *[3]uint64, p, q *[BlockSize]byte) { block2AMD64(s, t, p, q) }

func block3(s, t, u *[3]uint64, p, q, r *[BlockSize]byte) { block3AMD64(s, t, u, p, q, r) }
