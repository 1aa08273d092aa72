package integration

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/alovago/alova/captcha"
)

// uniqueEmail returns an address no other test or earlier run has used.
func uniqueEmail() string { return fmt.Sprintf("user-%s@example.com", uniqueID()) }

func send(t *testing.T, s *server, key string) reply {
	t.Helper()
	return do(t, "POST", s.URL+"/captcha/send", map[string]string{"key": key})
}

// sendOK sends a code to key through s, fails the test unless it answered
// 200, and returns the challenge the answer carries: what a caller sends
// back to /verify with the code.
func sendOK(t *testing.T, s *server, key string) string {
	t.Helper()
	r := send(t, s, key)
	if r.Status != http.StatusOK {
		t.Fatalf("send to %s on %s = %d %s, want 200", key, s.URL, r.Status, r.Body)
	}
	c, ok := r.JSON(t)["challenge"].(string)
	if !ok || c == "" {
		t.Fatalf("send answered %s, want a challenge", r.Body)
	}
	return c
}

func verify(t *testing.T, s *server, key, challenge, code string) reply {
	t.Helper()
	return do(t, "POST", s.URL+"/captcha/verify", map[string]string{"key": key, "challenge": challenge, "code": code})
}

// unknownChallenge has the shape of a challenge (32 lower-case hex digits)
// but was never handed out.
var unknownChallenge = strings.Repeat("0", 32)

// lastCode reads the code the server's demo gateway last delivered to key.
func lastCode(t *testing.T, s *server, key string) string {
	t.Helper()
	r := do(t, "GET", s.URL+"/demo/outbox?key="+key, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /demo/outbox?key=%s = %d %s, want 200", key, r.Status, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("GET /demo/outbox: Cache-Control = %q, want no-store (it reveals codes)", cc)
	}
	return r.JSON(t)["code"].(string)
}

func TestTwoInstancesShareCaptchaCodes(t *testing.T) {
	t.Parallel()
	url := sharedRedisURL(t)
	a := startServer(t, url, "-ip-limit", "1000")
	b := startServer(t, url, "-ip-limit", "1000")

	key := uniqueEmail()
	challenge := sendOK(t, a, key)
	code := lastCode(t, a, key)
	if r := send(t, b, key); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("resend on B = %d (Retry-After %q), want 429 with Retry-After: the interval is shared",
			r.Status, r.Header.Get("Retry-After"))
	}
	// The right code under a challenge this key was never given (an unknown
	// one, or another key's) is refused on either instance, and such guesses,
	// more than a challenge's attempts, burn nothing.
	other := sendOK(t, b, uniqueEmail())
	for i := range captcha.DefaultMaxAttempts {
		for _, c := range []string{unknownChallenge, other} {
			if r := verify(t, []*server{a, b}[i%2], key, c, code); r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("verify of the right code under challenge %q = %d %s, want 422", c, r.Status, r.Body)
			}
		}
	}
	if r := verify(t, b, key, challenge, code); r.Status != http.StatusOK {
		t.Fatalf("verify on B of the code sent through A = %d %s, want 200 (not burned by wrong-challenge guesses)", r.Status, r.Body)
	}
	if r := verify(t, a, key, challenge, code); r.Status != http.StatusOK {
		t.Errorf("verify retried on A (a lost answer) = %d %s, want 200 once more", r.Status, r.Body)
	}
	if r := verify(t, a, key, challenge, code); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("verify the used code again on A = %d %s, want 422", r.Status, r.Body)
	}

	// 50 concurrent sends for one key, spread over A and B: one delivery.
	key = uniqueEmail()
	_, before, _ := stats(t, a)
	_, beforeB, _ := stats(t, b)
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range 50 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := tryDo("POST", s.URL+"/captcha/send", map[string]string{"key": key})
			if err != nil {
				t.Errorf("send: %v", err)
				return
			}
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	_, afterA, _ := stats(t, a)
	_, afterB, _ := stats(t, b)
	if delivered := afterA - before + afterB - beforeB; delivered != 1 {
		t.Errorf("50 racing sends over A and B made %d deliveries, want 1", delivered)
	}
	if statuses[http.StatusOK] != 1 || statuses[http.StatusTooManyRequests] != 49 {
		t.Errorf("50 racing sends answered %v, want one 200 and 49 429", statuses)
	}
}

func TestFlakyDownstreamCaptchaSucceedsThroughRetries(t *testing.T) {
	t.Parallel()
	s := startServer(t, sharedRedisURL(t), "-demo-fail-rate", "0.5", "-retry-delay", "5ms")
	const n = 5
	for range n {
		key := uniqueEmail()
		r := send(t, s, key)
		if r.Status != http.StatusOK {
			t.Fatalf("send with half the deliveries failing = %d %s, want 200 through retries", r.Status, r.Body)
		}
		challenge, _ := r.JSON(t)["challenge"].(string)
		if r := verify(t, s, key, challenge, lastCode(t, s, key)); r.Status != http.StatusOK {
			t.Fatalf("verify = %d %s, want 200", r.Status, r.Body)
		}
	}
	if _, deliveries, _ := stats(t, s); deliveries != n {
		t.Errorf("deliveries = %d, want %d", deliveries, n)
	}
}
