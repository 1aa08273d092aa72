package captcha

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// TestMemorySweep: records whose budget refilled are swept by later writes
// to other keys, without a goroutine.
func TestMemorySweep(t *testing.T) {
	synctest.Test(t, testMemorySweep)
}

func testMemorySweep(t *testing.T) {
	s := NewMemoryStore()
	p := NewProvider(s, Options{})
	deliver := func(context.Context, string, string) error { return nil }
	ctx := context.Background()
	for i := range 1000 {
		if _, err := p.Send(ctx, fmt.Sprint("old", i), deliver); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.len(); n != 1000 {
		t.Fatalf("len = %d, want 1000", n)
	}
	time.Sleep(defaultBurst * defaultRefill)
	for i := range 1000 {
		if _, err := p.Send(ctx, fmt.Sprint("new", i), deliver); err != nil {
			t.Fatal(err)
		}
	}
	// 2000 writes since the old records died: at least one sweep ran.
	if n := s.len(); n > 1000+500 {
		t.Fatalf("len = %d after the old records expired, want at most 1500", n)
	}
	// A dead record is dropped when its own key is touched, too.
	if err := p.Verify(ctx, "old1", newToken(), "000000"); err == nil {
		t.Fatal("expired key verified")
	}
	if _, ok := s.records["old1"]; ok {
		t.Error("touched dead record still stored")
	}
}

func (s *MemoryStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}
