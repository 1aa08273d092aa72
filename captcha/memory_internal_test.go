package captcha

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMemorySweep: records whose code expired and whose interval passed are
// swept by later writes to other keys, without a goroutine.
func TestMemorySweep(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewMemoryStore()
	p := NewProvider(s, Options{Now: func() time.Time { return now }})
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
	now = now.Add(DefaultTTL)
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
	if err := p.Verify(ctx, "old1", "0000"); err == nil {
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
