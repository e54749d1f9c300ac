package s3proto

import (
	"encoding/xml"
	"strings"
	"testing"
)

type versionsDoc struct {
	IsTruncated         bool   `xml:"IsTruncated"`
	NextKeyMarker       string `xml:"NextKeyMarker"`
	NextVersionIDMarker string `xml:"NextVersionIdMarker"`
	Entries             []struct {
		XMLName   xml.Name
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
		IsLatest  bool   `xml:"IsLatest"`
	} `xml:",any"`
}

// TestVersioningOverS3 drives versioning through the S3 wire: PutBucketVersioning, version
// ids on writes and reads, delete markers (404 with x-amz-delete-marker, 405 by id),
// ListObjectVersions with Version and DeleteMarker in order, restore by copying an old
// version, DeleteObjects with version ids, and MFA delete refused.
func TestVersioningOverS3(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/vbkt", nil, nil, 200)
	_, data := f.must(t, "PUT", "/s3/vbkt?versioning", []byte(`<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>`), nil, 501)
	wantContains(t, data, "MFA delete is not supported")
	f.must(t, "PUT", "/s3/vbkt?versioning", []byte(`<VersioningConfiguration><Status>Sideways</Status></VersioningConfiguration>`), nil, 400)
	f.must(t, "PUT", "/s3/vbkt?versioning", []byte(`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>`), nil, 200)
	_, data = f.must(t, "GET", "/s3/vbkt?versioning", nil, nil, 200)
	wantContains(t, data, "<Status>Enabled</Status>")

	r1, _ := f.must(t, "PUT", "/s3/vbkt/k", []byte("one"), nil, 200)
	r2, _ := f.must(t, "PUT", "/s3/vbkt/k", []byte("two"), nil, 200)
	v1, v2 := r1.Header.Get("x-amz-version-id"), r2.Header.Get("x-amz-version-id")
	if v1 == "" || v2 == "" || v1 == v2 {
		t.Fatalf("version ids %q %q", v1, v2)
	}
	resp, data := f.must(t, "GET", "/s3/vbkt/k?versionId="+v1, nil, nil, 200)
	if string(data) != "one" || resp.Header.Get("x-amz-version-id") != v1 {
		t.Fatalf("GET v1: %q %q", data, resp.Header.Get("x-amz-version-id"))
	}
	resp, _ = f.must(t, "HEAD", "/s3/vbkt/k", nil, nil, 200)
	if resp.Header.Get("x-amz-version-id") != v2 {
		t.Fatalf("HEAD latest: %q", resp.Header.Get("x-amz-version-id"))
	}
	f.must(t, "GET", "/s3/vbkt/k?versionId=not-a-version", nil, nil, 400)
	_, data = f.must(t, "GET", "/s3/vbkt/k?versionId=0b9e6c4e-8f3a-4d7e-9a43-1f0a6a1f2b3c", nil, nil, 404)
	wantContains(t, data, "<Code>NoSuchVersion</Code>")
	resp, _ = f.must(t, "GET", "/s3/vbkt/k?versionId="+v1+"&tagging", nil, nil, 200)
	if resp.Header.Get("x-amz-version-id") != v1 {
		t.Fatalf("tagging of v1: %q", resp.Header.Get("x-amz-version-id"))
	}

	resp, _ = f.must(t, "DELETE", "/s3/vbkt/k", nil, nil, 204)
	marker := resp.Header.Get("x-amz-version-id")
	if resp.Header.Get("x-amz-delete-marker") != "true" || marker == "" {
		t.Fatalf("delete: %v", resp.Header)
	}
	resp, _ = f.must(t, "GET", "/s3/vbkt/k", nil, nil, 404)
	if resp.Header.Get("x-amz-delete-marker") != "true" || resp.Header.Get("x-amz-version-id") != marker {
		t.Fatalf("GET after delete: %v", resp.Header)
	}
	resp, data = f.must(t, "GET", "/s3/vbkt/k?versionId="+marker, nil, nil, 405)
	wantContains(t, data, "<Code>MethodNotAllowed</Code>")
	if resp.Header.Get("x-amz-delete-marker") != "true" {
		t.Fatalf("GET marker: %v", resp.Header)
	}

	_, data = f.must(t, "GET", "/s3/vbkt?versions", nil, nil, 200)
	var doc versionsDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range doc.Entries {
		if e.XMLName.Local == "Version" || e.XMLName.Local == "DeleteMarker" {
			got = append(got, e.XMLName.Local+":"+e.VersionID+":"+map[bool]string{true: "latest", false: ""}[e.IsLatest])
		}
	}
	want := []string{"DeleteMarker:" + marker + ":latest", "Version:" + v2 + ":", "Version:" + v1 + ":"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("versions %v, want %v", got, want)
	}
	// Pages of one entry walk the same list.
	var paged []string
	q := "/s3/vbkt?versions&max-keys=1"
	for range 10 {
		_, data = f.must(t, "GET", q, nil, nil, 200)
		var page versionsDoc
		if err := xml.Unmarshal(data, &page); err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if e.VersionID != "" {
				paged = append(paged, e.VersionID)
			}
		}
		if !page.IsTruncated {
			break
		}
		q = "/s3/vbkt?versions&max-keys=1&key-marker=" + page.NextKeyMarker + "&version-id-marker=" + page.NextVersionIDMarker
	}
	if strings.Join(paged, ",") != strings.Join([]string{marker, v2, v1}, ",") {
		t.Fatalf("paged %v", paged)
	}

	// Restore v1 by copying it onto its own key.
	resp, _ = f.must(t, "PUT", "/s3/vbkt/k", nil, map[string]string{"x-amz-copy-source": "vbkt/k?versionId=" + v1}, 200)
	if resp.Header.Get("x-amz-copy-source-version-id") != v1 || resp.Header.Get("x-amz-version-id") == "" {
		t.Fatalf("copy: %v", resp.Header)
	}
	_, data = f.must(t, "GET", "/s3/vbkt/k", nil, nil, 200)
	if string(data) != "one" {
		t.Fatalf("restored %q", data)
	}

	// DeleteObjects: one plain key (a marker) and one version.
	body := `<Delete><Object><Key>k</Key></Object><Object><Key>k</Key><VersionId>` + v2 + `</VersionId></Object></Delete>`
	_, data = f.must(t, "POST", "/s3/vbkt?delete", []byte(body), nil, 200)
	wantContains(t, data, "<DeleteMarker>true</DeleteMarker>", "<DeleteMarkerVersionId>", "<VersionId>"+v2+"</VersionId>")
	f.must(t, "GET", "/s3/vbkt/k?versionId="+v2, nil, nil, 404)
	f.must(t, "DELETE", "/s3/vbkt/k?versionId="+v1, nil, nil, 204)
	f.must(t, "GET", "/s3/vbkt/k?versionId="+v1, nil, nil, 404)
	_, data = f.must(t, "DELETE", "/s3/vbkt", nil, nil, 409)
	wantContains(t, data, "<Code>BucketNotEmpty</Code>")

	f.must(t, "PUT", "/s3/vbkt?versioning", []byte(`<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>`), nil, 200)
	resp, _ = f.must(t, "PUT", "/s3/vbkt/s", []byte("x"), nil, 200)
	if resp.Header.Get("x-amz-version-id") != "null" {
		t.Fatalf("suspended put: %q", resp.Header.Get("x-amz-version-id"))
	}
}

// TestNeverVersionedS3Headers: a bucket that was never versioned sends no version headers.
func TestNeverVersionedS3Headers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/nvbkt", nil, nil, 200)
	resp, _ := f.must(t, "PUT", "/s3/nvbkt/k", []byte("x"), nil, 200)
	for _, h := range []string{"x-amz-version-id", "x-amz-delete-marker"} {
		if resp.Header.Get(h) != "" {
			t.Fatalf("PUT sends %s", h)
		}
	}
	resp, _ = f.must(t, "GET", "/s3/nvbkt/k", nil, nil, 200)
	if resp.Header.Get("x-amz-version-id") != "" {
		t.Fatal("GET sends a version id")
	}
	resp, _ = f.must(t, "DELETE", "/s3/nvbkt/k", nil, nil, 204)
	if resp.Header.Get("x-amz-delete-marker") != "" || resp.Header.Get("x-amz-version-id") != "" {
		t.Fatalf("DELETE: %v", resp.Header)
	}
	f.must(t, "GET", "/s3/nvbkt/k", nil, nil, 404)
	f.must(t, "DELETE", "/s3/nvbkt", nil, nil, 204)
}
