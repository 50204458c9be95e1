//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package sharedir

import (
	"context"
	"hash"
	"os"
)

func hashMapped(context.Context, *os.File, int64, hash.Hash) (int64, error) { return 0, errNoMmap }
