package testredis

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestProcessFreezeThawRestart(t *testing.T) {
	s := Server(t)
	rdb := s.Client()
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Freeze()
	if reply, err := Command(s.Addr(), "PING"); err == nil {
		t.Fatalf("a frozen server answered PING with %q", reply)
	}
	s.Thaw()
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after thaw = %q, %v; want \"v\"", v, err)
	}
	s.Restart()
	if v, err := rdb.Get(ctx, "k").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after restart = %q, %v; want redis.Nil (a restarted server is empty)", v, err)
	}
}
