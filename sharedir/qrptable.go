package sharedir

import "github.com/servent/servent/protocol"

// qrpTable is a stand-in for protocol.QRPTable until it lands: a presence
// bitset of 2^bits slots.
type qrpTable struct {
	bits uint
	set  []uint64
}

func newQRPTable(bits uint) *qrpTable {
	return &qrpTable{bits: bits, set: make([]uint64, (1<<bits+63)/64)}
}

func (t *qrpTable) Bits() uint               { return t.bits }
func (t *qrpTable) Set(slot uint32)          { t.set[slot/64] |= 1 << (slot % 64) }
func (t *qrpTable) Present(slot uint32) bool { return t.set[slot/64]&(1<<(slot%64)) != 0 }
func (t *qrpTable) AddWord(w string)         { t.Set(protocol.QRPHash(w, t.bits)) }
