//go:build linux || darwin || freebsd || netbsd || openbsd

package sharedir

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
)

// mmapWindow is how much of a file is mapped at a time (a variable for
// tests).
var mmapWindow int64 = 64 << 20

// hashMapped feeds f to d from a read-only mapping, window by window: the
// page cache is hashed in place, without the copy a read makes. A file
// truncated meanwhile faults on access; SetPanicOnFault turns that into a
// panic recovered as an error (the runtime's advice for mapped files), in
// the tree's helper goroutine too; a window is unmapped only once the
// helper is done with it.
func hashMapped(ctx context.Context, f *os.File, size int64, d *digester) (n int64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	for off := int64(0); off < size; off += mmapWindow {
		k, err := hashWindow(ctx, f, off, min(mmapWindow, size-off), d)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func hashWindow(ctx context.Context, f *os.File, off, size int64, d *digester) (n int64, err error) {
	b, err := syscall.Mmap(int(f.Fd()), off, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return 0, fmt.Errorf("mmap: %w", errNoMmap)
	}
	defer syscall.Munmap(b)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: fault reading mapping: %v", errChanged, r)
		}
	}()
	_ = syscall.Madvise(b, syscall.MADV_SEQUENTIAL)
	const step = 4 << 20 // check for cancellation now and then
	for len(b) > 0 {
		k := min(step, len(b))
		if err := d.write(b[:k]); err != nil {
			return n, err
		}
		b = b[k:]
		n += int64(k)
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
	return n, nil
}
