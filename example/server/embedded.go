package main

import (
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// The embedded Redis is for demos only: miniredis keeps everything in this
// process's memory, loses it at exit, and is shared by no other instance.
//
// miniredis stores TTLs but never counts them down on its own (tests move
// its clock with FastForward). Without a clock, a client IP that reached the
// captcha limit got 429 forever and no cached product ever left memory. The
// clock below moves it forward by the real time that passed, once per
// embeddedTick: keys expire at most a tick late.
//
// One FastForward is one pass over every key (about 45 ms per 100,000 keys:
// it sorts them) whatever the request rate, far cheaper than a tick per
// command. With very many keys the wait between two passes grows, so that
// the clock never takes more than 1/clockBudget of the time (of one core).
const (
	embeddedTick = time.Second
	clockBudget  = 10
)

// embeddedRedis is a miniredis on a loopback port with a clock that makes
// its keys expire. Close stops both.
type embeddedRedis struct {
	mr   *miniredis.Miniredis
	stop chan struct{}
	done chan struct{} // closed when the clock has stopped
}

// startEmbedded starts a miniredis on a free loopback port and its clock.
func startEmbedded() (*embeddedRedis, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	e := &embeddedRedis{mr: mr, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		runClock(e.stop, mr.FastForward, embeddedTick)
	}()
	return e, nil
}

// Close stops the clock, then the server.
func (e *embeddedRedis) Close() {
	close(e.stop)
	<-e.done
	e.mr.Close()
}

// runClock calls forward with the time passed since its previous call, every
// tick or, when forward is slow, every clockBudget times its last duration,
// until stop is closed.
func runClock(stop <-chan struct{}, forward func(time.Duration), tick time.Duration) {
	last := time.Now()
	t := time.NewTimer(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		forward(now.Sub(last))
		last = now
		t.Reset(max(tick, clockBudget*time.Since(now)))
	}
}
