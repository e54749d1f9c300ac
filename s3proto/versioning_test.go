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

// TestDeleteMarkerWithoutCurrentVersion: DeleteObject and DeleteObjects without a version
// id in a versioned bucket write a delete marker also for a key that has no current
// version (only a marker on top, or nothing at all), as S3 does; Suspended writes the
// "null" marker, replacing an earlier one. A never-versioned bucket still writes nothing.
func TestDeleteMarkerWithoutCurrentVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/dmbkt", nil, nil, 200)
	f.must(t, "PUT", "/s3/dmbkt?versioning", []byte(`<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`), nil, 200)
	r, _ := f.must(t, "PUT", "/s3/dmbkt/k", []byte("one"), nil, 200)
	v1 := r.Header.Get("x-amz-version-id")
	markerOf := func(resp interface{ Get(string) string }) string {
		t.Helper()
		if resp.Get("x-amz-delete-marker") != "true" || resp.Get("x-amz-version-id") == "" {
			t.Fatalf("no delete marker headers: marker %q version %q", resp.Get("x-amz-delete-marker"), resp.Get("x-amz-version-id"))
		}
		return resp.Get("x-amz-version-id")
	}
	r, _ = f.must(t, "DELETE", "/s3/dmbkt/k", nil, nil, 204)
	m1 := markerOf(r.Header)
	r, _ = f.must(t, "DELETE", "/s3/dmbkt/k", nil, nil, 204)
	m2 := markerOf(r.Header)
	r, _ = f.must(t, "DELETE", "/s3/dmbkt/never", nil, nil, 204)
	m3 := markerOf(r.Header)
	if m1 == m2 || m2 == m3 || m1 == v1 {
		t.Fatalf("version ids v1 %s, markers %s %s %s", v1, m1, m2, m3)
	}
	_, data := f.must(t, "POST", "/s3/dmbkt?delete", []byte(`<Delete><Object><Key>k</Key></Object><Object><Key>other</Key></Object></Delete>`), nil, 200)
	var res struct {
		Deleted []struct {
			Key                   string `xml:"Key"`
			DeleteMarker          bool   `xml:"DeleteMarker"`
			DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId"`
		} `xml:"Deleted"`
	}
	if err := xml.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 2 {
		t.Fatalf("DeleteObjects: %s", data)
	}
	var m4 string
	for _, d := range res.Deleted {
		if !d.DeleteMarker || d.DeleteMarkerVersionID == "" {
			t.Fatalf("DeleteObjects entry without a marker: %s", data)
		}
		if d.Key == "k" {
			m4 = d.DeleteMarkerVersionID
		}
	}
	resp, _ := f.must(t, "HEAD", "/s3/dmbkt/k", nil, nil, 404)
	if markerOf(resp.Header) != m4 {
		t.Fatalf("HEAD names marker %q, want the newest %q", resp.Header.Get("x-amz-version-id"), m4)
	}
	_, data = f.must(t, "GET", "/s3/dmbkt?versions", nil, nil, 200)
	var doc versionsDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range doc.Entries {
		if e.XMLName.Local == "Version" || e.XMLName.Local == "DeleteMarker" {
			s := e.Key + ":" + e.XMLName.Local + ":" + e.VersionID
			if e.IsLatest {
				s += "*"
			}
			got = append(got, s)
		}
	}
	var otherMarker string
	for _, d := range res.Deleted {
		if d.Key == "other" {
			otherMarker = d.DeleteMarkerVersionID
		}
	}
	want := []string{"k:DeleteMarker:" + m4 + "*", "k:DeleteMarker:" + m2, "k:DeleteMarker:" + m1, "k:Version:" + v1,
		"never:DeleteMarker:" + m3 + "*", "other:DeleteMarker:" + otherMarker + "*"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("versions\n%v, want\n%v", got, want)
	}

	// Suspended: the marker is "null", and a second one replaces the first.
	f.must(t, "PUT", "/s3/dmbkt?versioning", []byte(`<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>`), nil, 200)
	for range 2 {
		r, _ = f.must(t, "DELETE", "/s3/dmbkt/k", nil, nil, 204)
		if id := markerOf(r.Header); id != "null" {
			t.Fatalf("Suspended delete marker %q", id)
		}
	}
	_, data = f.must(t, "GET", "/s3/dmbkt?versions&prefix=k", nil, nil, 200)
	if n := strings.Count(string(data), "<VersionId>null</VersionId>"); n != 1 {
		t.Fatalf("%d null versions after two Suspended deletes: %s", n, data)
	}

	// Never versioned: a delete of a missing key writes nothing and names nothing.
	f.must(t, "PUT", "/s3/dmplain", nil, nil, 200)
	r, _ = f.must(t, "DELETE", "/s3/dmplain/missing", nil, nil, 204)
	if r.Header.Get("x-amz-delete-marker") != "" || r.Header.Get("x-amz-version-id") != "" {
		t.Fatalf("never-versioned delete: %v", r.Header)
	}
	f.must(t, "DELETE", "/s3/dmplain", nil, nil, 204)
}
