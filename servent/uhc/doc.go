// Package uhc holds the decisions of bootstrapping through host caches,
// apart from any socket (GNUTELLA-UDP.md 14, GNUTELLA.md 9):
//
//   - as a UDP host cache (server): which UDP Pings get an answer (one per
//     source address per window, as gtk-gnutella's UDP_PING_FREQ) and which
//     hosts go in the IPP of an answer to a GGEP SCP ping (Pick);
//   - as a client: a state machine (Client) that says which user-named
//     cache to ask next, when, and which Pongs answer our pings;
//   - GWebCache: the plain-text get/update requests and a bounded parser of
//     their answers (ParseGWC);
//   - the saved list of caches (caches.txt, EncodeCaches / ReadCaches).
//
// Every decision takes the time as an argument. Nothing here dials, sends
// or resolves a name: the node does that and reports back.
package uhc
