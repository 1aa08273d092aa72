package client_test

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// No caller can change what another one sees (alova's issue #588), although
// L1 hits share one Response: it has no exported field, and every method
// that returns a slice or a map returns a copy. The test finds those methods
// by reflection, so a new one is checked too.
func TestResponseIsReadOnly(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[client.Response]()
	for f := range typ.Fields() {
		if f.IsExported() {
			t.Errorf("Response has an exported field %s: a caller could change a shared answer", f.Name)
		}
	}
	d := newCounting(t)
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	defer tr.Close()
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr})
	ctx := context.Background()
	if _, err := api.Get("/r").Send(ctx); err != nil {
		t.Fatal(err)
	}
	a, errA := api.Get("/r").Send(ctx)
	b, errB := api.Get("/r").Send(ctx)
	if errA != nil || errB != nil || a.Source() != cache.TierL1 || b.Source() != cache.TierL1 {
		t.Fatalf("two L1 hits: %v %v, %v %v", a, errA, b, errB)
	}
	if a != b {
		t.Error("two L1 hits of one entry decoded it twice: the entry's memo did not hold")
	}
	wantBody, wantHeaders := b.String(), b.Headers()
	checked := 0
	rv := reflect.ValueOf(a)
	for i := range rv.NumMethod() {
		m, name := rv.Method(i), rv.Type().Method(i).Name
		mt := m.Type()
		args := make([]reflect.Value, mt.NumIn())
		for j := range args {
			switch mt.In(j).Kind() {
			case reflect.String:
				args[j] = reflect.ValueOf("X-N")
			default:
				args[j] = reflect.Zero(mt.In(j)) // e.g. WithBody(nil), WriteTo(nil) is skipped below
			}
		}
		if name == "WriteTo" || name == "Decode" {
			continue // they write into what the caller passes
		}
		for _, out := range m.Call(args) {
			switch out.Kind() {
			case reflect.Slice:
				checked++
				for k := range out.Len() {
					out.Index(k).Set(reflect.Zero(out.Type().Elem()))
				}
			case reflect.Map:
				checked++
				for _, k := range out.MapKeys() {
					out.SetMapIndex(k, reflect.Zero(out.Type().Elem()))
				}
				out.SetMapIndex(reflect.ValueOf("X-Added"), reflect.ValueOf([]string{"1"}))
			}
		}
	}
	if checked < 2 {
		t.Fatalf("found %d methods returning a slice or a map; want at least Bytes and Headers", checked)
	}
	if b.String() != wantBody || !reflect.DeepEqual(b.Headers(), wantHeaders) {
		t.Fatalf("after a caller changed what its Response's methods returned, another hit sees %q %v; want %q %v",
			b.String(), b.Headers(), wantBody, wantHeaders)
	}
	if c, err := api.Get("/r").Send(ctx); err != nil || c.String() != wantBody || c.Header("X-N") != wantHeaders.Get("X-N") {
		t.Fatalf("a later hit = %v, %v; want the cached answer unchanged", c, err)
	}
	if http.Header(wantHeaders).Get("X-N") == "" {
		t.Fatal("the test answer has no X-N header: the header checks above compare nothing")
	}
}
