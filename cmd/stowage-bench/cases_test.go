package main

import "testing"

func TestParseCases(t *testing.T) {
	got, err := parseCases("put-4KiB,put-64KiB,get-1MiB,list-1000,put-512B")
	if err != nil {
		t.Fatal(err)
	}
	want := []benchCase{
		{"put-4KiB", "put", 4 << 10},
		{"put-64KiB", "put", 64 << 10},
		{"get-1MiB", "get", 1 << 20},
		{"list-1000", "list", 4 << 10},
		{"put-512B", "put", 512},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("case %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"put-17MiB", "put-0KiB", "del-4KiB", "put-", "put-4GiB", "put-x", "list-5", "put-99999999999999999999MiB"} {
		if _, err := parseCases(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
