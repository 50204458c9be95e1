// Package routing holds the GUID route and de-duplication tables, the TTL and
// hops rules and the query routing tables (GNUTELLA.md 3.4, 4.9, 7.1-7.4).
// No sockets, no goroutines: the node calls in from its connection
// goroutines, so every table is safe for concurrent use, and every clock is
// injected.
//
// Closed connections: routes are invalidated lazily. The node numbers its
// connections with ConnIDs it never reuses (a uint64 counter from 1) and
// gives the tables an alive check (WithAlive); a route whose connection is
// gone is then reported as unroutable by Lookup. The entry itself stays, so
// that a late duplicate of a message from a closed connection is still
// recognised. Nothing is scanned when a connection closes.
package routing
