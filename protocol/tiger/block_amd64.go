//go:build amd64 && !purego

package tiger

// block2AMD64 (block_amd64.s) runs two blocks at about 1.4 times the speed
// of block2Generic. For one block the compiler's code is as fast as
// assembly: one Tiger is bound by the latency of its table loads.

//go:noescape
func block2AMD64(s, t *[3]uint64, p, q *[BlockSize]byte)

func block(s *[3]uint64, p *[BlockSize]byte) { blockGeneric(s, p) }

func block2(s, t *[3]uint64, p, q *[BlockSize]byte) { block2AMD64(s, t, p, q) }
