package thex

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The THEX reply (GNUTELLA-TRANSFERS.md 23.4): a DIME message of a text/xml
// record describing the tree and a record of the breadth-first nodes, whose
// ID is the XML's uri.

const (
	// TreeType is the serialized tree type and the tree record's type.
	TreeType = "http://open-content.net/spec/thex/breadthfirst"
	// DigestAlgorithm is the digest of the XML's <digest>.
	DigestAlgorithm = "http://open-content.net/spec/digest/tiger"
	// Doctype is the system id of the XML's DOCTYPE.
	Doctype = "http://open-content.net/spec/thex/thex.dtd"
	// XMLType is the media type of the XML record.
	XMLType = "text/xml"
	// maxXML bounds the XML record a reader parses; gtk-gnutella's is
	// under 400 bytes.
	maxXML = 64 << 10
	// maxXMLDepth bounds the depth attribute read from the wire.
	maxXMLDepth = 64
)

// TreeID is the uri gtk-gnutella gives a tree (thex_upload_uuid): "uuid:"
// and the first 16 bytes of the root read as little-endian words at
// offsets 0, 4, 6, 8, 10 and 14, formatted %08x-%04x-%04x-%04x-%08x%04x.
func TreeID(root Hash) string {
	le := binary.LittleEndian
	return fmt.Sprintf("uuid:%08x-%04x-%04x-%04x-%08x%04x",
		le.Uint32(root[0:]), le.Uint16(root[4:]), le.Uint16(root[6:]),
		le.Uint16(root[8:]), le.Uint32(root[10:]), le.Uint16(root[14:]))
}

// Info is what the XML record says.
type Info struct {
	FileSize    int64  // <file size>
	SegmentSize int    // <file segmentsize>
	Algorithm   string // <digest algorithm>
	OutputSize  int    // <digest outputsize>
	Depth       int    // <serializedtree depth>
	TreeType    string // <serializedtree type>
	URI         string // <serializedtree uri>
}

// AppendXML appends the XML record for a tree exactly as gtk-gnutella
// writes it (thex_upload_prepare_xml): CRLF line ends, no indentation.
func AppendXML(b []byte, size int64, depth int, root Hash) []byte {
	b = append(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"+
		"<!DOCTYPE hashtree SYSTEM \""+Doctype+"\">\r\n"+
		"<hashtree>\r\n"+
		"<file size=\""...)
	b = strconv.AppendInt(b, size, 10)
	b = append(b, "\" segmentsize=\"1024\"/>\r\n"+
		"<digest algorithm=\""+DigestAlgorithm+"\" outputsize=\"24\"/>\r\n"+
		"<serializedtree depth=\""...)
	b = strconv.AppendInt(b, int64(depth), 10)
	b = append(b, "\" type=\""+TreeType+"\" uri=\""...)
	b = append(b, TreeID(root)...)
	return append(b, "\"/>\r\n</hashtree>\r\n"...)
}

// AppendMessage appends the THEX reply for t: the XML record (MB) and the
// breadth-first record (ME) with the tree's uri as ID, as gtk-gnutella
// serves it.
func AppendMessage(b []byte, t *Tree) []byte {
	root := t.Root()
	return AppendDIME(b, []Record{
		{TypeFormat: TypeMedia, Type: XMLType, Data: AppendXML(nil, t.Size, t.Depth, root)},
		{TypeFormat: TypeURI, Type: TreeType, ID: TreeID(root), Data: t.AppendBreadthFirst(nil)},
	})
}

// ParseXML reads the fields of a THEX XML record. It is lenient: element
// and attribute names match in any case, any encoding is read as ASCII,
// the DOCTYPE is skipped, and a record cut short (GnucDNA sends one
// without its closing tag) is fine once <file>, <digest> and
// <serializedtree> have been read. It does not check the values; see
// DecodeMessage.
func ParseXML(data []byte) (Info, error) {
	var info Info
	if len(data) > maxXML {
		return info, malformed("XML record of %d bytes", len(data))
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var seen [3]bool // file, digest, serializedtree
	root := true
	for {
		tok, err := d.Token()
		if err != nil {
			if seen[0] && seen[1] && seen[2] {
				return info, nil
			}
			if errors.Is(err, io.EOF) {
				return info, malformed("XML record without %s", missing(seen))
			}
			return info, malformed("XML record: %s", clip(err.Error()))
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		name := strings.ToLower(se.Name.Local)
		if root {
			if name != "hashtree" {
				return info, malformed("XML root element %q, want hashtree", clip(se.Name.Local))
			}
			root = false
			continue
		}
		attr := func(n string) (string, bool) {
			for _, a := range se.Attr {
				if strings.EqualFold(a.Name.Local, n) {
					return strings.TrimSpace(a.Value), true
				}
			}
			return "", false
		}
		var err2 error
		switch {
		case name == "file" && !seen[0]:
			seen[0] = true
			info.FileSize, err2 = intAttr(attr, "size", 1<<62)
			if err2 == nil {
				var n int64
				n, err2 = intAttr(attr, "segmentsize", 1<<30)
				info.SegmentSize = int(n)
			}
		case name == "digest" && !seen[1]:
			seen[1] = true
			info.Algorithm, _ = attr("algorithm")
			var n int64
			n, err2 = intAttr(attr, "outputsize", 1<<30)
			info.OutputSize = int(n)
		case name == "serializedtree" && !seen[2]:
			seen[2] = true
			info.TreeType, _ = attr("type")
			info.URI, _ = attr("uri")
			var n int64
			n, err2 = intAttr(attr, "depth", maxXMLDepth)
			info.Depth = int(n)
		}
		if err2 != nil {
			return info, err2
		}
	}
}

func intAttr(attr func(string) (string, bool), name string, limit int64) (int64, error) {
	v, ok := attr(name)
	if !ok {
		return 0, malformed("XML attribute %s missing", name)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > limit {
		return 0, malformed("XML attribute %s=%q", name, clip(v))
	}
	return n, nil
}

func missing(seen [3]bool) string {
	for i, name := range []string{"<file>", "<digest>", "<serializedtree>"} {
		if !seen[i] {
			return name
		}
	}
	return "nothing"
}

// clip bounds a string from the wire for an error message.
func clip(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

// DecodeMessage reads a THEX reply for a file of size bytes and known
// root, with the checks of gtk-gnutella's downloader (thex_download.c):
// the XML must give this file size, segment size 1024, the Tiger digest of
// 24 bytes, the breadth-first type, a uri and a depth no deeper than the
// leaves; the tree record is the one of that type whose ID is the uri
// (any ID when none matches: BearShare sends a bogus one); its nodes are
// then read by ParseBreadthFirst.
func DecodeMessage(body []byte, size int64, root Hash) (*Tree, Info, error) {
	recs, err := DecodeDIME(body)
	if err != nil {
		return nil, Info{}, err
	}
	var xmlRec *Record
	for i := range recs {
		if strings.EqualFold(recs[i].Type, XMLType) {
			xmlRec = &recs[i]
			break
		}
	}
	if xmlRec == nil {
		return nil, Info{}, malformed("THEX reply without a %s record", XMLType)
	}
	info, err := ParseXML(xmlRec.Data)
	if err != nil {
		return nil, info, err
	}
	switch {
	case info.FileSize != size:
		err = malformed("XML file size %d, want %d", info.FileSize, size)
	case info.SegmentSize != SegmentSize:
		err = malformed("XML segment size %d", info.SegmentSize)
	case info.Algorithm != DigestAlgorithm:
		err = malformed("XML digest %q", clip(info.Algorithm))
	case info.OutputSize != HashSize:
		err = malformed("XML digest size %d", info.OutputSize)
	case info.TreeType != TreeType:
		err = malformed("XML tree type %q", clip(info.TreeType))
	case info.URI == "":
		err = malformed("XML tree without a uri")
	case info.Depth > FullDepth(size):
		err = malformed("XML depth %d for a file of %d bytes", info.Depth, size)
	}
	if err != nil {
		return nil, info, err
	}
	var treeRec *Record
	for i := range recs {
		if strings.EqualFold(recs[i].Type, TreeType) {
			if strings.EqualFold(recs[i].ID, info.URI) {
				treeRec = &recs[i]
				break
			}
			if treeRec == nil {
				treeRec = &recs[i]
			}
		}
	}
	if treeRec == nil {
		return nil, info, malformed("THEX reply without a %s record", TreeType)
	}
	t, err := ParseBreadthFirst(treeRec.Data, size, info.Depth, root)
	return t, info, err
}
