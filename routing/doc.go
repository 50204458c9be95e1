// Package routing holds the GUID route and de-duplication tables, the TTL and hops rules and the query routing tables. No sockets, no goroutines.
package routing
