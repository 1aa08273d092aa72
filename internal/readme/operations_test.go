package readme

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/testredis"
)

// TestOperationsRedisKeys checks the key counts that docs/operations.md
// ("Redis keys") gives, on a real Redis: after a few sends through a client
// with a RedisStore under a prefix of its own, the keys under the prefix
// are, by kind,
//
//	answers + distinct tags + 2 × shards in use + watch hashes
//
// with one string per cached answer, one tag set per distinct tag (URL,
// name, hitSource), a reg and a lex sorted set per shard holding a tag set,
// and the watch hash once a send that can invalidate others was made.
func TestOperationsRedisKeys(t *testing.T) {
	rdb := testredis.Real(t)
	downstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(downstream.Close)

	for _, tc := range []struct {
		name             string
		send             func(ctx context.Context, api *client.Client) error
		answers, tagSets int
		watch            int
	}{
		{
			name: "two plain GETs",
			send: func(ctx context.Context, api *client.Client) error {
				return sendAll(ctx, api.Get("/products/1"), api.Get("/products/2"))
			},
			answers: 2, tagSets: 2, watch: 0,
		},
		{
			name: "two named GETs, one with a hitSource",
			send: func(ctx context.Context, api *client.Client) error {
				return sendAll(ctx, api.Get("/products/1").Name("product"),
					api.Get("/products").Name("products").HitSource(client.ByName("saveProduct")))
			},
			answers: 2, tagSets: 5, watch: 1,
		},
		{
			name: "one URL, three users",
			send: func(ctx context.Context, api *client.Client) error {
				return sendAll(ctx, api.Get("/me").Header("Authorization", "Bearer a"),
					api.Get("/me").Header("Authorization", "Bearer b"),
					api.Get("/me").Header("Authorization", "Bearer c"))
			},
			answers: 3, tagSets: 1, watch: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := testredis.Prefix(t, rdb)
			tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}),
				cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: prefix}), cache.TieredOptions{})
			defer tiers.Close()
			api := client.New(client.Options{BaseURL: downstream.URL, Cache: tiers})
			if err := tc.send(ctx, api); err != nil {
				t.Fatal(err)
			}

			keys, err := rdb.Keys(ctx, prefix+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(keys)
			var answers, tagSets, reg, lex, watch, other int
			shards := map[string]bool{}
			for _, k := range keys {
				rest := strings.TrimPrefix(k, prefix)
				shard, kind, ok := strings.Cut(rest, "}:")
				switch {
				case !strings.HasPrefix(rest, "{tags:"):
					answers++
				case ok && strings.HasPrefix(kind, "t:"):
					tagSets++
					shards[shard] = true
				case kind == "reg":
					reg++
				case kind == "lex":
					lex++
				case kind == "watch":
					watch++
				default:
					other++
				}
			}
			want := tc.answers + tc.tagSets + 2*len(shards) + tc.watch
			if answers != tc.answers || tagSets != tc.tagSets || reg != len(shards) || lex != len(shards) ||
				watch != tc.watch || other != 0 || len(keys) != want {
				t.Errorf("%d keys, want %d = %d answers + %d tag sets + 2 × %d shards + %d watch; "+
					"found %d answers, %d tag sets, %d reg, %d lex, %d watch, %d others:\n%s",
					len(keys), want, tc.answers, tc.tagSets, len(shards), tc.watch,
					answers, tagSets, reg, lex, watch, other, strings.Join(keys, "\n"))
			}
		})
	}
}

// sendAll sends ms one after the other.
func sendAll(ctx context.Context, ms ...*client.Method) error {
	for _, m := range ms {
		if _, err := m.Send(ctx); err != nil {
			return err
		}
	}
	return nil
}
