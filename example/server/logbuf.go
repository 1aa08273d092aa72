package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushEvery is how often the buffered log reaches its writer.
const logFlushEvery = 100 * time.Millisecond

// logBuffer batches the log's writes: an access log line per request costs
// a copy into memory, not a write syscall. What it holds reaches the
// underlying writer every logFlushEvery, when the buffer fills, and on
// Close, so a graceful shutdown loses nothing. It is safe for concurrent
// use; slog handlers write each record with one Write call, which stays
// whole.
type logBuffer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// newLogBuffer starts flushing into w every logFlushEvery until Close.
func newLogBuffer(w io.Writer) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushLoop()
	return b
}

// Write appends p to the buffer (or writes through when it is full).
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Flush writes out what the buffer holds.
func (b *logBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

func (b *logBuffer) flushLoop() {
	defer close(b.done)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Close stops the flushing goroutine and writes out the rest. Writes after
// Close still reach the buffer; call Flush for them. Close is idempotent.
func (b *logBuffer) Close() error {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
	})
	return b.Flush()
}
