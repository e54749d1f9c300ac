package rest

import (
	"context"
	"io"
	"testing"

	"github.com/stowage/stowage/gateway"
)

// TestRESTKeepsVersions: in a versioned bucket a REST overwrite (x-upsert), an update and
// a delete keep the previous versions, while REST reads and lists show the latest only.
func TestRESTKeepsVersions(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	svc := f.engine.ServiceCaller("")
	f.bucket("restver", nil)
	if err := f.engine.SetBucketVersioning(ctx, svc, "restver", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	f.put("restver", "doc.txt", "one")
	f.must(f.do("POST", "/object/restver/doc.txt", f.service, "two", "Content-Type", "text/plain", "x-upsert", "true"), 200)
	f.must(f.do("PUT", "/object/restver/doc.txt", f.service, "three", "Content-Type", "text/plain"), 200)
	if r := f.must(f.do("GET", "/object/restver/doc.txt", f.service, nil), 200); string(r.body) != "three" {
		t.Fatalf("REST read %q", r.body)
	}
	f.must(f.do("DELETE", "/object/restver/doc.txt", f.service, nil), 200)
	f.must(f.do("GET", "/object/restver/doc.txt", f.service, nil), 400)
	l, err := f.engine.ListObjectVersions(ctx, svc, gateway.ListVersions{Bucket: "restver"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, v := range l.Versions {
		k := "v"
		if v.DeleteMarker {
			k = "dm"
		}
		kinds = append(kinds, k)
	}
	if len(kinds) != 4 || kinds[0] != "dm" || !l.Versions[0].IsLatest {
		t.Fatalf("versions %v", kinds)
	}
	for i, want := range []string{"three", "two", "one"} {
		r, err := f.engine.GetObject(ctx, svc, gateway.GetObject{Bucket: "restver", Key: "doc.txt", VersionID: l.Versions[i+1].VersionID})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil || string(got) != want {
			t.Fatalf("version %d: %q %v, want %q", i, got, err, want)
		}
	}
}
