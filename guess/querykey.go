// Package guess holds the pure parts of GUESS 0.2 (GNUTELLA-UDP.md 15):
// the query keys an ultrapeer hands out and checks. No sockets, no
// goroutines; time is an argument.
package guess

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
)

// KeyLen is the length of the keys issued and accepted: gtk-gnutella
// issues 4-byte keys and refuses any other length (15.1).
const KeyLen = 4

// RotatePeriod is how long a secret is the current one; with two secrets
// alive a key stays valid between one and two periods (GTKG:
// GUESS_REFRESH_PERIOD, one day, GUESS_KEYS = 2, src/core/search.c).
const RotatePeriod = 24 * time.Hour

// Key is a GUESS query key, as written in GGEP QK.
type Key [KeyLen]byte

// Keys issues and checks query keys bound to the requester's IP and port,
// computed as gtk-gnutella's sectoken_generate() (src/lib/sectoken.c): the
// 8-byte block IPv4 (BE) | port (BE) | 00 00 is TEA-encrypted under a
// secret 128-bit key, the two 32-bit halves (read LE) are XORed
// (tea_squeeze()) and the result written BE. Two secrets are alive: the
// current one issues keys, both validate; every period the older is
// replaced by a fresh random one. A key therefore cannot be reproduced
// without the secret: the lab's keys (32-34) are checked by their
// properties, not their values.
//
// IPv6 differs from GTKG on purpose: GTKG folds the 16-byte address with an
// unkeyed 32-bit hash before encrypting, so an attacker who owns a /64 can
// pick an address of theirs that hashes like a victim's and obtain a key
// valid for the victim (an amplification source). Here the address and
// port are chained through TEA (a CBC-MAC under the secret) instead.
//
// Keys is safe for concurrent use.
type Keys struct {
	mu      sync.Mutex
	secrets [2]teaKey // [0] current, [1] previous
	next    time.Time // when secrets[0] is replaced
	period  time.Duration
	fill    func([]byte) // the randomness for secrets
}

// NewKeys returns a generator whose first secret is current from now on.
func NewKeys(now time.Time) *Keys {
	return newKeys(now, RotatePeriod, func(b []byte) { _, _ = rand.Read(b) }) // crypto/rand.Read never fails
}

func newKeys(now time.Time, period time.Duration, fill func([]byte)) *Keys {
	k := &Keys{period: period, fill: fill, next: now.Add(period)}
	k.fill(k.secrets[0][:])
	k.fill(k.secrets[1][:]) // a key from before we started stays invalid
	return k
}

// rotate brings the secrets up to now. A clock going backwards changes
// nothing; after two periods or more both secrets are fresh.
func (k *Keys) rotate(now time.Time) {
	for n := 0; !now.Before(k.next); n++ {
		if n == len(k.secrets) {
			k.next = now.Add(k.period)
			return
		}
		k.secrets[1] = k.secrets[0]
		k.fill(k.secrets[0][:])
		k.next = k.next.Add(k.period)
	}
}

// Key returns the key for a requester at addr (the datagram's source).
func (k *Keys) Key(addr netip.AddrPort, now time.Time) Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rotate(now)
	return keyFor(&k.secrets[0], addr)
}

// Valid reports whether key, read from a GUESS query that came from addr,
// is one Key gave addr under a secret still alive. Keys of another length
// are refused, as GTKG does.
func (k *Keys) Valid(key []byte, addr netip.AddrPort, now time.Time) bool {
	if len(key) != KeyLen {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rotate(now)
	ok := 0
	for i := range k.secrets {
		want := keyFor(&k.secrets[i], addr)
		ok |= subtle.ConstantTimeCompare(key, want[:])
	}
	return ok == 1
}

// keyFor computes the key of addr under one secret.
func keyFor(s *teaKey, addr netip.AddrPort) Key {
	var block [8]byte
	ip := addr.Addr().Unmap()
	if ip.Is4() {
		a := ip.As4()
		copy(block[:4], a[:])
		binary.BigEndian.PutUint16(block[4:6], addr.Port())
		block = teaEncrypt(s, block)
	} else {
		// CBC-MAC over address (two blocks) and port (see Keys).
		a := ip.As16()
		block = teaEncrypt(s, [8]byte(a[:8]))
		for i := range 8 {
			block[i] ^= a[8+i]
		}
		block = teaEncrypt(s, block)
		block[0] ^= byte(addr.Port() >> 8)
		block[1] ^= byte(addr.Port())
		block = teaEncrypt(s, block)
	}
	var k Key
	binary.BigEndian.PutUint32(k[:], teaSqueeze(block))
	return k
}

// teaKey is a 128-bit TEA key.
type teaKey [16]byte

// teaEncrypt encrypts one 8-byte block with TEA, 32 cycles, words read and
// written little-endian, as gtk-gnutella's t_encrypt() (src/lib/tea.c).
func teaEncrypt(key *teaKey, v [8]byte) [8]byte {
	const delta = 0x9e3779b9
	v0 := binary.LittleEndian.Uint32(v[0:4])
	v1 := binary.LittleEndian.Uint32(v[4:8])
	k0 := binary.LittleEndian.Uint32(key[0:4])
	k1 := binary.LittleEndian.Uint32(key[4:8])
	k2 := binary.LittleEndian.Uint32(key[8:12])
	k3 := binary.LittleEndian.Uint32(key[12:16])
	var sum uint32
	for range 32 {
		sum += delta
		v0 += ((v1 << 4) + k0) ^ (v1 + sum) ^ ((v1 >> 5) + k1)
		v1 += ((v0 << 4) + k2) ^ (v0 + sum) ^ ((v0 >> 5) + k3)
	}
	var out [8]byte
	binary.LittleEndian.PutUint32(out[0:4], v0)
	binary.LittleEndian.PutUint32(out[4:8], v1)
	return out
}

// teaSqueeze folds an encrypted block to 32 bits: the XOR of its
// little-endian words (tea_squeeze()).
func teaSqueeze(b [8]byte) uint32 {
	return binary.LittleEndian.Uint32(b[0:4]) ^ binary.LittleEndian.Uint32(b[4:8])
}
