// Package sharedir scans the shared folder, hashes files to urn:sha1, keeps the keyword index and builds this servent's QRP table. No sockets.
package sharedir
