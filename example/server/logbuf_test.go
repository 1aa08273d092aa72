package main

import (
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// countingWriter records what reaches it and how many writes it took.
type countingWriter struct {
	mu     sync.Mutex
	b      strings.Builder
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.b.Write(p)
}

func (w *countingWriter) state() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String(), w.writes
}

func TestLogBufferBatchesAndFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out countingWriter
		b := newLogBuffer(&out)
		for range 1000 {
			_, _ = b.Write([]byte("request\n"))
		}
		if got, n := out.state(); n != 0 || got != "" {
			t.Fatalf("before a flush the writer got %d writes, want none", n)
		}
		time.Sleep(logFlushEvery)
		synctest.Wait()
		got, n := out.state()
		if strings.Count(got, "request\n") != 1000 || n > 1 {
			t.Fatalf("after %v: %d lines in %d writes, want 1000 in 1", logFlushEvery, strings.Count(got, "request\n"), n)
		}
		_, _ = b.Write([]byte("last words\n"))
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if got, _ := out.state(); !strings.HasSuffix(got, "last words\n") {
			t.Fatalf("Close lost the tail: %q", got[max(0, len(got)-40):])
		}
	})
}
