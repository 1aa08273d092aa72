// Package testlog gives tests a logger whose output they can read back, to
// check what a component logs (and that it logs what its answers leave out).
package testlog

import (
	"bytes"
	"log/slog"
	"sync"
)

// Buffer returns a logger writing JSON lines into a buffer that is safe for
// concurrent use, and a function returning what has been written so far.
func Buffer() (*slog.Logger, func() string) {
	w := &lockedBuffer{}
	return slog.New(slog.NewJSONHandler(w, nil)), w.String
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
