package thex

import "encoding/binary"

// DIME (draft-nielsen-dime-02), the framing of a THEX reply: a message of
// records, each a 12-byte header then options, ID, type and data, each
// padded with zeros to a multiple of 4 bytes.

// DIME TYPE_T values: how a record's type is written.
const (
	TypeUnchanged = 0 // a chunk continuing the record before
	TypeMedia     = 1 // a media type such as "text/xml"
	TypeURI       = 2 // an absolute URI
	TypeUnknown   = 3
	TypeNone      = 4
)

const (
	dimeVersion    = 1
	dimeHeaderSize = 12
	flagMB         = 0x04
	flagME         = 0x02
	flagCF         = 0x01
	// maxRecords bounds a decoded message; a THEX reply has two.
	maxRecords = 64
)

// Record is one DIME record; chunks (CF) are joined when decoding.
type Record struct {
	TypeFormat byte // TYPE_T
	Type       string
	ID         string
	Options    []byte
	Data       []byte
}

func pad4(n int) int { return (n + 3) &^ 3 }

// AppendDIME appends the message made of recs: MB on the first record, ME
// on the last, no chunking. Fields longer than the format allows (64 KiB
// for options, ID and type, 4 GiB for data) are the caller's bug and are
// cut.
func AppendDIME(b []byte, recs []Record) []byte {
	for i, r := range recs {
		flags := byte(dimeVersion << 3)
		if i == 0 {
			flags |= flagMB
		}
		if i == len(recs)-1 {
			flags |= flagME
		}
		opt, id, typ, data := r.Options, r.ID, r.Type, r.Data
		opt = opt[:min(len(opt), 0xffff)]
		id = id[:min(len(id), 0xffff)]
		typ = typ[:min(len(typ), 0xffff)]
		data = data[:min(int64(len(data)), 0xffffffff)]
		b = append(b, flags, r.TypeFormat<<4)
		b = binary.BigEndian.AppendUint16(b, uint16(len(opt)))
		b = binary.BigEndian.AppendUint16(b, uint16(len(id)))
		b = binary.BigEndian.AppendUint16(b, uint16(len(typ)))
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		b = appendPadded(b, opt)
		b = appendPadded(b, []byte(id))
		b = appendPadded(b, []byte(typ))
		b = appendPadded(b, data)
	}
	return b
}

func appendPadded(b, field []byte) []byte {
	b = append(b, field...)
	return append(b, make([]byte, pad4(len(field))-len(field))...)
}

// DecodeDIME reads a DIME message from b, up to and including the record
// with ME; bytes after it are ignored, as gtk-gnutella does. Every length
// is checked against what is left of b before use, and chunked records are
// joined into one. Options and Data alias b unless chunks were joined.
func DecodeDIME(b []byte) ([]Record, error) {
	var recs []Record
	chunking := false
	for off := 0; ; {
		if len(recs) >= maxRecords {
			return nil, malformed("DIME message of more than %d records", maxRecords)
		}
		rest := b[off:]
		if len(rest) < dimeHeaderSize {
			return nil, malformed("DIME record header at %d: %d bytes left", off, len(rest))
		}
		if v := rest[0] >> 3; v != dimeVersion {
			return nil, malformed("DIME version %d at %d", v, off)
		}
		flags := rest[0] & 7
		typeT := rest[1] >> 4
		optLen := int(binary.BigEndian.Uint16(rest[2:]))
		idLen := int(binary.BigEndian.Uint16(rest[4:]))
		typeLen := int(binary.BigEndian.Uint16(rest[6:]))
		dataLen := int64(binary.BigEndian.Uint32(rest[8:]))
		if (off == 0) != (flags&flagMB != 0) {
			return nil, malformed("DIME record at %d: MB flag %v", off, flags&flagMB != 0)
		}
		need := int64(dimeHeaderSize + pad4(optLen) + pad4(idLen) + pad4(typeLen))
		need += (dataLen + 3) &^ 3
		if need > int64(len(rest)) {
			return nil, malformed("DIME record at %d needs %d bytes, %d left", off, need, len(rest))
		}
		p := dimeHeaderSize
		opt := rest[p : p+optLen : p+optLen]
		p += pad4(optLen)
		id := string(rest[p : p+idLen])
		p += pad4(idLen)
		typ := string(rest[p : p+typeLen])
		p += pad4(typeLen)
		data := rest[p : p+int(dataLen) : p+int(dataLen)]
		off += int(need)

		if chunking {
			// A middle or last chunk: no type, no ID, data continues.
			if typeT != TypeUnchanged || typeLen != 0 || idLen != 0 {
				return nil, malformed("DIME chunk at %d has a type or an ID", off-int(need))
			}
			last := &recs[len(recs)-1]
			last.Data = append(last.Data[:len(last.Data):len(last.Data)], data...)
		} else {
			if typeT == TypeUnchanged {
				return nil, malformed("DIME record at %d: TYPE_T 0 outside a chunked record", off-int(need))
			}
			recs = append(recs, Record{TypeFormat: typeT, Type: typ, ID: id, Options: opt, Data: data})
		}
		chunking = flags&flagCF != 0
		if flags&flagME != 0 {
			if chunking {
				return nil, malformed("DIME record with both ME and CF")
			}
			return recs, nil
		}
	}
}
