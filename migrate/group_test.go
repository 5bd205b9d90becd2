package migrate

import (
	"fmt"
	"testing"
)

// groupByFingerprint groups due schemas, and current ones whose catalog is not the template's,
// by fingerprint and drift; current schemas with the template's fingerprint are only counted.
// Groups come biggest first, ties by first member; members are sorted.
func TestGroupByFingerprint(t *testing.T) {
	t.Parallel()
	fps := map[string]string{"d1": "a", "d2": "b", "d3": "a", "d4": "", "c1": "t", "c2": "a", "c3": "t"}
	groups, verified := groupByFingerprint([]string{"d3", "d2", "d1", "d4"}, []string{"c1", "c2", "c3"}, fps, "t")
	var got []string
	for _, g := range groups {
		got = append(got, fmt.Sprintf("%s/%t%v", g.fp, g.drift, g.members))
	}
	want := "[a/false[d1 d3] a/true[c2] b/false[d2] /false[d4]]"
	if fmt.Sprint(got) != want || verified != 2 {
		t.Errorf("groups %v, verified %d; want %s, 2", got, verified, want)
	}
}
