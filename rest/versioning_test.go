package rest

import (
	"context"
	"io"
	"net/url"
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

// TestRESTUploadVersionID: REST writes into a versioned bucket answer x-amz-version-id, as
// S3's PutObject does, naming the version each write created (upload, update, multipart
// form, signed upload, copy, move; "null" while Suspended); a never-versioned bucket's
// answers carry no such header.
func TestRESTUploadVersionID(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	svc := f.engine.ServiceCaller("")
	f.bucket("plainver", nil)
	f.bucket("restvid", nil)
	if err := f.engine.SetBucketVersioning(ctx, svc, "restvid", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	// vid checks that r carries a version id naming the version of bucket/key holding want.
	vid := func(r reply, bucket, key, want string) string {
		t.Helper()
		id := r.header.Get("x-amz-version-id")
		if id == "" {
			t.Fatalf("no x-amz-version-id on %d %s (%v)", r.status, r.body, r.header)
		}
		o, err := f.engine.GetObject(ctx, svc, gateway.GetObject{Bucket: bucket, Key: key, VersionID: id})
		if err != nil {
			t.Fatalf("version %s of %s: %v", id, key, err)
		}
		got, err := io.ReadAll(o.Body)
		o.Body.Close()
		if err != nil || string(got) != want {
			t.Fatalf("version %s of %s holds %q (%v), want %q", id, key, got, err, want)
		}
		return id
	}
	text := []string{"Content-Type", "text/plain"}

	ids := map[string]bool{}
	ids[vid(f.must(f.do("POST", "/object/restvid/a.txt", f.service, "one", text...), 200), "restvid", "a.txt", "one")] = true
	ids[vid(f.must(f.do("POST", "/object/restvid/a.txt", f.service, "two", "Content-Type", "text/plain", "x-upsert", "true"), 200), "restvid", "a.txt", "two")] = true
	ids[vid(f.must(f.do("PUT", "/object/restvid/a.txt", f.service, "three", text...), 200), "restvid", "a.txt", "three")] = true
	form := "--XX\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n60\r\n" +
		"--XX\r\nContent-Disposition: form-data; name=\"\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\nfour\r\n--XX--\r\n"
	ids[vid(f.must(f.do("PUT", "/object/restvid/a.txt", f.service, form, "Content-Type", "multipart/form-data; boundary=XX"), 200), "restvid", "a.txt", "four")] = true
	if len(ids) != 4 {
		t.Fatalf("four writes gave version ids %v", ids)
	}

	tok := f.must(f.do("POST", "/object/upload/sign/restvid/signed.txt", f.service, map[string]any{}), 200).json(t)["token"].(string)
	vid(f.must(f.do("PUT", "/object/upload/sign/restvid/signed.txt?token="+url.QueryEscape(tok), "", "signed", text...), 200), "restvid", "signed.txt", "signed")

	copyID := vid(f.must(f.do("POST", "/object/copy", f.service, map[string]any{"bucketId": "restvid", "sourceKey": "a.txt", "destinationKey": "b.txt"}), 200), "restvid", "b.txt", "four")
	moveID := vid(f.must(f.do("POST", "/object/move", f.service, map[string]any{"bucketId": "restvid", "sourceKey": "b.txt", "destinationKey": "c.txt"}), 200), "restvid", "c.txt", "four")
	if copyID == moveID {
		t.Fatalf("the move's destination reuses the copy's version id %s", copyID)
	}

	if err := f.engine.SetBucketVersioning(ctx, svc, "restvid", gateway.VersioningSuspended); err != nil {
		t.Fatal(err)
	}
	if id := vid(f.must(f.do("PUT", "/object/restvid/a.txt", f.service, "five", text...), 200), "restvid", "a.txt", "five"); id != gateway.NullVersionID {
		t.Fatalf("a Suspended bucket's write answered version %q, want null", id)
	}

	// Never versioned: the reference's answers, no version header.
	for _, r := range []reply{
		f.must(f.do("POST", "/object/plainver/a.txt", f.service, "one", text...), 200),
		f.must(f.do("PUT", "/object/plainver/a.txt", f.service, "two", text...), 200),
		f.must(f.do("POST", "/object/copy", f.service, map[string]any{"bucketId": "plainver", "sourceKey": "a.txt", "destinationKey": "b.txt"}), 200),
		f.must(f.do("POST", "/object/move", f.service, map[string]any{"bucketId": "plainver", "sourceKey": "b.txt", "destinationKey": "c.txt"}), 200),
	} {
		if id, ok := r.header["X-Amz-Version-Id"]; ok {
			t.Fatalf("never-versioned bucket answered x-amz-version-id %q: %s", id, r.body)
		}
	}
}
