// Package bufconn is a connection read through the bufio.Reader that has
// already read ahead on it: the first bytes peeked to tell TLS from the
// rest, or the bytes past a GIV line. Handing on the bare connection
// would lose them.
package bufconn

import (
	"bufio"
	"net"
)

// Conn reads through R; everything else is the connection's.
type Conn struct {
	net.Conn
	R *bufio.Reader
}

func (c *Conn) Read(b []byte) (int, error) { return c.R.Read(b) }
