package handlers_test

import (
	"strings"
	"testing"

	"github.com/alovago/alova/handlers"
)

func TestKeyValidators(t *testing.T) {
	t.Parallel()
	type check struct {
		in, want string
		ok       bool
	}
	tests := []struct {
		name  string
		fn    func(string) (string, bool)
		cases []check
	}{
		{"PrintableKey", handlers.PrintableKey, []check{
			{"ann", "ann", true},
			{"+15550100000", "+15550100000", true},
			{"Ann Smith", "Ann Smith", true},
			{"用户-42", "用户-42", true},
			{strings.Repeat("é", 254), strings.Repeat("é", 254), true},
			{strings.Repeat("é", 255), "", false},
			{"", "", false},
			{" ann", "", false},
			{"ann ", "", false},
			{"a\tb", "", false},
			{"a\nb", "", false},
			{"a\x00b", "", false},
			{"a\u200bb", "", false}, // zero-width space
			{"a\u202eb", "", false}, // right-to-left override
			{"a\u00a0b", "", false}, // no-break space
			{"\xff", "", false},
		}},
		{"EmailKey", handlers.EmailKey, []check{
			{"ann@example.com", "ann@example.com", true},
			{"Ann.Smith+codes@Example.COM", "ann.smith+codes@example.com", true},
			{"a@b.co", "a@b.co", true},
			{"ann@localhost", "", false},
			{"ann", "", false},
			{"@example.com", "", false},
			{"ann@", "", false},
			{"ann@@example.com", "", false},
			{"Ann <ann@example.com>", "", false},
			{"<ann@example.com>", "", false},
			{`"ann smith"@example.com`, "", false},
			{"ann@[192.0.2.1]", "", false},
			{"ann@example..com", "", false},
			{"ann@.example.com", "", false},
			{"ann@example.com.", "", false},
			{" ann@example.com", "", false},
			{"ann@example.com\n", "", false},
			{"ann(comment)@example.com", "", false},
			{strings.Repeat("a", 243) + "@example.com", "", false}, // 255 bytes
			{strings.Repeat("a", 242) + "@example.com", strings.Repeat("a", 242) + "@example.com", true},
		}},
		{"PhoneKey", handlers.PhoneKey, []check{
			{"+15550100000", "+15550100000", true},
			{"+1 (555) 010-0000", "+15550100000", true},
			{"+44 20.7946.0000", "+442079460000", true},
			{"+2901234", "+2901234", true},                 // 7 digits
			{"+123456789012345", "+123456789012345", true}, // 15 digits
			{"+1234567890123456", "", false},               // 16 digits
			{"+290123", "", false},                         // 6 digits
			{"15550100000", "", false},
			{"+05550100000", "", false},
			{"+1555010000x", "", false},
			{"++15550100000", "", false},
			{"+1 555 010 0000 ext 1", "", false},
			{"+١٢٣٤٥٦٧٨", "", false}, // Arabic-Indic digits
			{"", "", false},
			{"+", "", false},
			{"+" + strings.Repeat(" ", 40) + "15550100000", "", false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range tc.cases {
				got, ok := tc.fn(c.in)
				if got != c.want || ok != c.ok {
					t.Errorf("%s(%q) = %q, %v; want %q, %v", tc.name, c.in, got, ok, c.want, c.ok)
				}
			}
		})
	}
}

// FuzzKeyValidators checks the validators' promises on any input: an
// accepted key is printable, non-empty and a fixed point (validating it again
// returns it unchanged).
func FuzzKeyValidators(f *testing.F) {
	for _, s := range []string{"ann", "Ann@Example.com", "+1 (555) 010-0000", "", " ", "\xff", "a@b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for name, fn := range map[string]func(string) (string, bool){
			"PrintableKey": handlers.PrintableKey, "EmailKey": handlers.EmailKey, "PhoneKey": handlers.PhoneKey,
		} {
			got, ok := fn(in)
			if !ok {
				if got != "" {
					t.Errorf("%s(%q) refused but returned %q", name, in, got)
				}
				continue
			}
			if _, printable := handlers.PrintableKey(got); !printable {
				t.Errorf("%s(%q) accepted %q, which is not printable", name, in, got)
			}
			if again, ok := fn(got); !ok || again != got {
				t.Errorf("%s(%q) = %q, but %s(%q) = %q, %v", name, in, got, name, got, again, ok)
			}
		}
	})
}
