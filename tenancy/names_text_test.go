package tenancy_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/tenancy"
)

// The workspace name follows the shared text rule, and names quoted back in messages are cut
// between characters.
func TestNameTexts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, want string }{
		{"Café Zürich 🍫", ""},
		{strings.Repeat("é", 100), ""},
		{" " + strings.Repeat("😀", 100) + " ", ""},
		{strings.Repeat("é", 101), "The workspace name is too long: 101 characters, at most 100."},
		{"\u200b\u200d", "The workspace name is required."},
		{"\u202e\u2066", "The workspace name is required."},
		{"Acme\xff", "The workspace name contains characters that are not allowed"},
		{"Acme\ufffd", "The workspace name contains characters that are not allowed"},
		{"Acme\nInc", "The workspace name cannot contain control characters"},
	} {
		err := tenancy.ValidateDisplayName(tc.name)
		if msg := toodoo.ErrorMessage(err); tc.want == "" && err != nil || tc.want != "" && !strings.HasPrefix(msg, tc.want) {
			t.Errorf("ValidateDisplayName(%+q) = %v, want %q", tc.name, err, tc.want)
		}
	}

	// Byte 70 and byte 80 fall inside a character: the message stays valid UTF-8.
	long := "x" + strings.Repeat("é", 100)
	if err := tenancy.ValidateSchemaName(long); !utf8.ValidString(toodoo.ErrorMessage(err)) || !strings.Contains(toodoo.ErrorMessage(err), "é…") {
		t.Errorf("ValidateSchemaName: %+q", toodoo.ErrorMessage(err))
	}
	if _, err := tenancy.NormalizeDomain("x" + strings.Repeat("é", 100) + ".com:80"); !utf8.ValidString(toodoo.ErrorMessage(err)) || !strings.Contains(toodoo.ErrorMessage(err), "é…") {
		t.Errorf("NormalizeDomain: %+q", toodoo.ErrorMessage(err))
	}
}
