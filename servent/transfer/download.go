package transfer

import (
	"bufio"
	"net"
)

// Manager downloads files (stub until the swarming code lands).
type Manager struct{}

// HandleGIV takes a connection that sent a GIV line.
func (m *Manager) HandleGIV(conn net.Conn, br *bufio.Reader, line string) { conn.Close() }
