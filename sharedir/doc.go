// Package sharedir scans the shared folder, hashes files to urn:sha1 and
// their Tiger tree (in the same read pass), keeps the keyword index and
// builds this servent's QRP table. No sockets.
//
// Open scans once (files are searchable by name when it returns); Start
// hashes in the background, watches the folder (fsnotify, plus a periodic
// rescan) and rebuilds the QRP table after changes; Close stops it all and
// saves the hash cache, which keeps indexes, hashes and the trees' bottom
// rows across restarts.
//
// Matching is GTKG's (entry_match with qs_begin): every query word, folded
// like names (protocol.Canonical), must start a word of the file name, as
// many times as the query repeats it; "beat" finds "The Beatles", "eatles"
// does not.
package sharedir
