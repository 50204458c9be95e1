// Package lines reads line-based text from untrusted sources (state
// files, web cache answers) with bounds on the line and the whole.
package lines

import (
	"bufio"
	"errors"
	"io"
)

// ErrTooLarge: the input went on past the byte limit; the lines before it
// were read.
var ErrTooLarge = errors.New("lines: input too large")

// Each calls fn with each line of r (its newline included, if any). A line
// longer than maxLine bytes is skipped whole, without being buffered.
// Reading stops when fn returns false (nil), at the end of r (nil), on a
// read error, or once more than maxBytes bytes came (ErrTooLarge). line
// is valid only during the call.
func Each(r io.Reader, maxLine, maxBytes int, fn func(line []byte) bool) error {
	// The limit is counted on the lines handed out, not on what bufio
	// has read ahead: the lines before it are all read.
	br := bufio.NewReaderSize(io.LimitReader(r, int64(maxBytes)+1), maxLine)
	used := 0
	for {
		line, err := br.ReadSlice('\n')
		used += len(line)
		long := false
		for errors.Is(err, bufio.ErrBufferFull) {
			long = true
			line, err = br.ReadSlice('\n')
			used += len(line)
		}
		if err != nil && err != io.EOF {
			return err
		}
		if used > maxBytes {
			return ErrTooLarge
		}
		if !long && len(line) > 0 && !fn(line) {
			return nil
		}
		if err == io.EOF {
			return nil
		}
	}
}
