package toodoo

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTextRuleClean(t *testing.T) {
	t.Parallel()
	rule := TextRule{Field: "title", Noun: "title", MaxChars: 5}
	const (
		required   = "The title is required."
		tooLong    = "The title is too long: "
		notAllowed = "The title contains characters that are not allowed"
		control    = "The title cannot contain control characters"
	)
	for _, tc := range []struct {
		name, in string
		want     string // the cleaned text, when it follows the rule
		err      string // the start of the message, when it does not
	}{
		{"plain", "abc", "abc", ""},
		{"trimmed", " \t abc \n", "abc", ""},
		{"five two-byte characters", "ééééé", "ééééé", ""},
		{"five emoji", "😀😀😀😀😀", "😀😀😀😀😀", ""},
		{"five characters of three bytes", "日本語日本", "日本語日本", ""},
		{"spaces inside", "a  b", "a  b", ""},
		{"joiner inside an emoji", "👩\u200d💻", "👩\u200d💻", ""},
		{"non-joiner inside a word", "می\u200cرم", "می\u200cرم", ""},
		{"flag with tags", "🏴\U000E0067\U000E0062\U000E007F", "🏴\U000E0067\U000E0062\U000E007F", ""},
		{"Arabic number sign is drawn", "\u0600", "\u0600", ""},

		{"empty", "", "", required},
		{"white space", " \t\u00a0\u3000 ", "", required},
		{"zero-width space", "\u200b", "", required},
		{"zero-width joiners", "\u200c\u200d", "", required},
		{"word joiner and BOM", "\u2060\ufeff", "", required},
		{"bidi marks", "\u200e\u200f", "", required},
		{"bidi embeddings and overrides", "\u202a\u202b\u202c\u202d\u202e", "", required},
		{"bidi isolates", "\u2066\u2067\u2068\u2069", "", required},
		{"soft hyphen", "\u00ad", "", required},
		{"variation selector", "\ufe0f", "", required},
		{"Hangul filler", "\u3164", "", required},
		{"invisible between spaces", " \u200b \u2060 ", "", required},

		{"six characters", "abcdef", "", tooLong + "6 characters, at most 5."},
		{"six two-byte characters", "éééééé", "", tooLong + "6 characters, at most 5."},
		{"six emoji", "😀😀😀😀😀😀", "", tooLong},

		{"invalid UTF-8", "ab\xffc", "", notAllowed},
		{"cut multi-byte character", "ab\xc3", "", notAllowed},
		{"encoded surrogate", "a\xed\xa0\x80", "", notAllowed},
		{"invalid UTF-8 alone", "\xff", "", notAllowed},
		{"replacement character (what JSON makes of \\ud800)", "a\ufffd", "", notAllowed},

		{"line break", "a\nb", "", control},
		{"tab", "a\tb", "", control},
		{"escape", "a\x1bb", "", control},
		{"C1 control", "a\u0085b", "", control},
		{"DEL", "a\x7fb", "", control},
	} {
		got, err := rule.Clean(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("%s: Clean(%+q) = %+q, %v; want %+q", tc.name, tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: Clean(%+q) = %+q, want an error %q", tc.name, tc.in, got, tc.err)
			continue
		}
		if msg := ErrorMessage(err); !strings.HasPrefix(msg, tc.err) || ErrorCode(err) != EINVALID {
			t.Errorf("%s: Clean(%+q): %s %q, want %s %q...", tc.name, tc.in, ErrorCode(err), msg, EINVALID, tc.err)
		}
		if e := err.(*Error); e.Field != "title" {
			t.Errorf("%s: field %q, want title", tc.name, e.Field)
		}
		if strings.Contains(ErrorMessage(err), "control") && tc.err != control {
			t.Errorf("%s: %q speaks of control characters", tc.name, ErrorMessage(err))
		}
	}
}

func TestTextRuleRequiredMessage(t *testing.T) {
	t.Parallel()
	rule := TextRule{Field: "title", Noun: "title", MaxChars: 5, Required: "Enter a title."}
	for _, in := range []string{"", "  ", "\u200b\u200d"} {
		if _, err := rule.Clean(in); ErrorMessage(err) != "Enter a title." {
			t.Errorf("Clean(%+q): %v, want the rule's own message", in, err)
		}
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"abcd", 1, "…"},
		{"abcd", 0, ""},
		{"ééé", 3, "ééé"},        // 6 bytes, 3 characters: not cut
		{"éééé", 3, "éé…"},       // a byte cut at 3 would split the second é
		{"éééé", 4, "éééé"},      // 8 bytes, 4 characters
		{"😀😀😀", 2, "😀…"},         // 4-byte characters
		{"a😀b😀c", 4, "a😀b…"},     // mixed widths
		{"日本語のテキスト", 5, "日本語の…"}, // 3-byte characters
		{"…………", 3, "………"},       // the suffix itself is multi-byte
		{"👩\u200d💻x", 3, "👩\u200d…"},
	} {
		got := Truncate(tc.in, tc.n)
		if got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %+q: not valid UTF-8", tc.in, tc.n, got)
		}
		if c := utf8.RuneCountInString(got); c > max(tc.n, 0) {
			t.Errorf("Truncate(%q, %d) = %q: %d characters", tc.in, tc.n, got, c)
		}
	}
	// Every cut of every string of multi-byte characters stays valid.
	for _, s := range []string{strings.Repeat("é", 50), strings.Repeat("😀", 50), strings.Repeat("a€😀", 20)} {
		for n := range len(s) + 2 {
			if got := Truncate(s, n); !utf8.ValidString(got) || !strings.HasPrefix(s, strings.TrimSuffix(got, "…")) {
				t.Fatalf("Truncate(%q, %d) = %+q", s, n, got)
			}
		}
	}
}
