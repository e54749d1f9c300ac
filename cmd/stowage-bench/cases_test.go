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

func TestSelectTargets(t *testing.T) {
	ts := []named{{name: "minio"}, {name: "stowage-s3"}, {name: "hook-s3"}}
	got, err := selectTargets(ts, "hook-s3,minio")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].name != "hook-s3" || got[1].name != "minio" {
		t.Fatalf("got %v, want hook-s3 then minio", got)
	}
	for _, bad := range []string{"nope", "minio,minio", "minio,", ""} {
		if _, err := selectTargets(ts, bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// The seed a get case writes first stays within seedBytes per worker (or two objects), and
// the sizes the default cases had keep their counts (64 of 4 KiB, 2 of 16 MiB).
func TestSeedCount(t *testing.T) {
	for _, c := range []struct{ size, want int }{{4 << 10, 64}, {64 << 10, 64}, {1 << 20, 4}, {16 << 20, 2}, {1, 64}} {
		if got := seedCount(c.size); got != c.want {
			t.Errorf("seedCount(%d) = %d, want %d", c.size, got, c.want)
		}
		if n := seedCount(c.size); n > 2 && n*c.size > seedBytes {
			t.Errorf("seedCount(%d): %d bytes of seed per worker", c.size, seedCount(c.size)*c.size)
		}
	}
}
