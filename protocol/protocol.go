// Package protocol is the Gnutella 0.6 wire codec: the 23-byte descriptor
// header and every payload, GGEP, HUGE urns, QRP messages and the QRP hash,
// vendor messages, the handshake header block and deflate stream wrappers.
//
// Encoders append to a caller's buffer and never retain it. Decoders check
// every length read from the wire against a limit before allocating, return
// errors that errors.Is recognises, and never panic. Unless a type says
// otherwise, a decoded message may alias the bytes it was decoded from.
//
// It imports nothing of servent's own.
package protocol

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// GUID is a 16-byte message or servent identifier.
type GUID [16]byte

// NewGUID returns a random message GUID marked as a "modern servent" MUID
// (byte 8 = 0xff, byte 15 = 0x00), as GNUTELLA.md section 3.3 asks.
func NewGUID() GUID {
	var g GUID
	_, _ = rand.Read(g[:])
	g[8] = 0xff
	g[15] = 0x00
	return g
}

// String is the GUID as 32 lower-case hex digits, the form GIV and the GUID
// handshake header use.
func (g GUID) String() string { return hex.EncodeToString(g[:]) }

// IsZero reports whether every byte is zero.
func (g GUID) IsZero() bool { return g == GUID{} }

// ParseGUID reads 32 hex digits, either case.
// A refusal returns the zero GUID, never a half-decoded one.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 32 {
		return GUID{}, fmt.Errorf("%w: guid %.40q is not 32 hex digits", ErrMalformed, s) // clipped: not the peer's whole string
	}
	if _, err := hex.Decode(g[:], []byte(s)); err != nil {
		return GUID{}, fmt.Errorf("%w: guid %q: %v", ErrMalformed, s, err)
	}
	return g, nil
}

// Errors every decoder may wrap; test with errors.Is.
var (
	// ErrTruncated: the input ends before a field it announces.
	ErrTruncated = errors.New("protocol: truncated")
	// ErrTooLarge: a length or count read from the wire is over its limit.
	ErrTooLarge = errors.New("protocol: too large")
	// ErrMalformed: the bytes do not follow the wire format.
	ErrMalformed = errors.New("protocol: malformed")
)
