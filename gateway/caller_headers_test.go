package gateway

import (
	"encoding/json"
	"testing"
)

// TestRequestHeaders: the JSON is the one the callers built eagerly before (lower-case
// names, a repeated name's last value, skipped names left out), built once, from a copy
// taken at the call: the request's own buffers may be overwritten afterwards.
func TestRequestHeaders(t *testing.T) {
	raw := [][2][]byte{
		{[]byte("Content-Type"), []byte("text/plain")},
		{[]byte("X-Dup"), []byte("first")},
		{[]byte("Authorization"), []byte("Bearer secret")},
		{[]byte("x-dup"), []byte("second")},
		{[]byte("X-Quote"), []byte(`a"b<c>&` + "\xff")},
	}
	visit := func(f func(k, v []byte)) {
		for _, h := range raw {
			f(h[0], h[1])
		}
	}
	calls := 0
	skip := func(name string) bool { calls++; return name == "authorization" }
	get := RequestHeaders(visit, skip)
	for _, h := range raw { // the request's buffers are reused
		for i := range h[0] {
			h[0][i] = 'z'
		}
		for i := range h[1] {
			h[1][i] = 'z'
		}
	}
	want, _ := json.Marshal(map[string]string{"content-type": "text/plain", "x-dup": "second", "x-quote": `a"b<c>&` + "\xff"})
	if got := get(); got != string(want) {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got := get(); got != string(want) || calls != len(raw) {
		t.Fatalf("second call: %s, skip asked %d times (want %d: built once)", got, calls, len(raw))
	}
	if got := RequestHeaders(func(func(k, v []byte)) {}, nil)(); got != "{}" {
		t.Fatalf("no headers: %s", got)
	}
}
