package toodoo

import (
	"cmp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A TextRule is the rule for one kind of short text a person types: a to-do title, a workspace
// name, a token name. Each kind has one rule, in the package that owns the text, and every way in
// (a form, the JSON API, the CLI) checks the text with it, so the same input gets the same answer
// and the same message everywhere.
//
// Text follows a rule when, once trimmed of white space:
//   - something visible is left: text made only of white space and invisible characters
//     (zero-width spaces and joiners, bidi marks and overrides, the byte order mark...) is
//     refused as empty;
//   - it has at most MaxChars characters, counted as PostgreSQL's char_length counts them;
//   - it is valid UTF-8 without U+FFFD, the replacement character;
//   - it has no control characters (line breaks, tabs, escape...).
//
// U+FFFD is refused because it is what damaged input becomes before a rule sees it: the JSON
// decoder turns invalid UTF-8 and lone surrogates ("\ud800") into U+FFFD, and browsers do the same
// when they encode a form. Refusing it makes the API refuse what the form refuses, with the same
// message, instead of storing a title whose characters were lost. The price is that a person
// cannot type "�" on purpose, which no to-do needs.
type TextRule struct {
	Field    string // the input at fault, for Error.Field
	Noun     string // the text's name in messages: "title" gives "The title is too long..."
	MaxChars int    // the most characters (code points) after trimming
	Required string // the message for empty text, if not "The <Noun> is required."
}

// Clean returns s without leading and trailing white space when it follows the rule, and an
// EINVALID error naming Field, with a message fit for a person, when it does not.
func (r TextRule) Clean(s string) (string, error) {
	t := strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(t); {
	case !strings.ContainsFunc(t, visible):
		return "", Invalid(r.Field, "%s", cmp.Or(r.Required, "The "+r.Noun+" is required."))
	case n > r.MaxChars:
		return "", Invalid(r.Field, "The %s is too long: %d characters, at most %d.", r.Noun, n, r.MaxChars)
	case !utf8.ValidString(t) || strings.ContainsRune(t, utf8.RuneError):
		return "", Invalid(r.Field, "The %s contains characters that are not allowed (invalid text, or the replacement character �).", r.Noun)
	case strings.ContainsFunc(t, unicode.IsControl):
		return "", Invalid(r.Field, "The %s cannot contain control characters such as line breaks.", r.Noun)
	}
	return t, nil
}

// visible reports whether r shows something: it is neither white space nor a default-ignorable
// code point, Unicode's name for the characters a renderer draws as nothing (zero-width space,
// joiners, word joiner, bidi marks, embeddings, overrides and isolates, the byte order mark, soft
// hyphen, variation selectors, tags, Hangul fillers). The invalid bytes of bad UTF-8 decode to
// U+FFFD, which is visible, so they are not mistaken for empty text.
func visible(r rune) bool {
	return !unicode.IsSpace(r) && !defaultIgnorable(r)
}

// defaultIgnorable is Unicode's derived property Default_Ignorable_Code_Point, which the unicode
// package does not carry, built from the properties it does as DerivedCoreProperties.txt defines
// it: Other_Default_Ignorable_Code_Point, format characters (Cf) and variation selectors, minus
// white space, the interlinear annotation characters, the Egyptian hieroglyph format controls and
// the prepended concatenation marks (which are drawn).
func defaultIgnorable(r rune) bool {
	switch {
	case !unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Cf, unicode.Variation_Selector):
		return false
	case unicode.Is(unicode.White_Space, r), unicode.Is(unicode.Prepended_Concatenation_Mark, r):
		return false
	case 0xFFF9 <= r && r <= 0xFFFB, 0x13430 <= r && r <= 0x1343F:
		return false
	}
	return true
}

// Truncate returns s cut to at most n characters, the last of which is "…" when s was cut. It
// cuts between characters, never inside one, so valid UTF-8 stays valid: a cut multi-byte
// character would be refused by a PostgreSQL text column and shown as "�" anywhere else.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	end := 0
	for range n - 1 {
		_, size := utf8.DecodeRuneInString(s[end:])
		end += size
	}
	return s[:end] + "…"
}
