package s3proto

import (
	"encoding/xml"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// unicodeKeys are keys outside the reference's ASCII alphabet that S3 accepts.
var unicodeKeys = []string{
	"café/naïve résumé.txt",
	"日本語/ファイル.txt",
	"Screenshot 2024-01-01 at 10.00.00\u202fAM.png",
	`100%_[a]{b}^~"q"<x>|y\z#.txt`,
	"q?uery&x=1;y+z.txt",
	"lit%2Fslash",
	"a_b/x",
	"axb/y",
}

// listKeys reads a ListObjectsV2 answer's keys and common prefixes, URL-decoding them when
// the answer says EncodingType url (as SDKs do).
func listKeys(t *testing.T, data []byte) (keys, prefixes []string) {
	t.Helper()
	var res struct {
		EncodingType string
		Contents     []struct{ Key string }
		Prefixes     []struct{ Prefix string } `xml:"CommonPrefixes"`
	}
	if err := xml.Unmarshal(data, &res); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	dec := func(s string) string {
		if res.EncodingType != "url" {
			return s
		}
		d, err := url.QueryUnescape(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return d
	}
	for _, c := range res.Contents {
		keys = append(keys, dec(c.Key))
	}
	for _, p := range res.Prefixes {
		prefixes = append(prefixes, dec(p.Prefix))
	}
	return keys, prefixes
}

// TestUnicodeKeys: every key S3 accepts round-trips byte-exact through PUT, GET, listings
// (raw and EncodingType=url), CopyObject, multipart uploads and DeleteObjects.
func TestUnicodeKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/uni", nil, nil, 200)
	for _, k := range unicodeKeys {
		f.must(t, "PUT", "/s3/uni/"+s3URLEncode(k), []byte("body of "+k), nil, 200)
	}
	want := slices.Clone(unicodeKeys)
	slices.Sort(want)
	for _, q := range []string{"list-type=2", "list-type=2&encoding-type=url", "encoding-type=url", ""} {
		_, data := f.must(t, "GET", "/s3/uni?"+q, nil, nil, 200)
		if got, _ := listKeys(t, data); !slices.Equal(got, want) {
			t.Fatalf("list %q:\n got %q\nwant %q", q, got, want)
		}
	}
	_, data := f.must(t, "GET", "/s3/uni?list-type=2&encoding-type=url&delimiter=/&prefix="+url.QueryEscape("caf"), nil, nil, 200)
	if _, p := listKeys(t, data); !slices.Equal(p, []string{"café/"}) {
		t.Fatalf("prefixes %q: %s", p, data)
	}
	_, data = f.must(t, "GET", "/s3/uni?list-type=2&prefix=a_", nil, nil, 200)
	if k, _ := listKeys(t, data); !slices.Equal(k, []string{"a_b/x"}) {
		t.Fatalf("prefix a_ listed %q", k)
	}
	for _, k := range unicodeKeys {
		_, body := f.must(t, "GET", "/s3/uni/"+s3URLEncode(k), nil, nil, 200)
		if string(body) != "body of "+k {
			t.Fatalf("GET %q: %q", k, body)
		}
		f.must(t, "PUT", "/s3/uni/"+s3URLEncode("copy/"+k), nil, map[string]string{"x-amz-copy-source": "uni/" + s3URLEncode(k)}, 200)
		_, body = f.must(t, "GET", "/s3/uni/"+s3URLEncode("copy/"+k), nil, nil, 200)
		if string(body) != "body of "+k {
			t.Fatalf("copy %q: %q", k, body)
		}
	}
	// Multipart: the key comes back in the XML answers exactly.
	mk := "mp/" + unicodeKeys[3]
	_, data = f.must(t, "POST", "/s3/uni/"+s3URLEncode(mk)+"?uploads", nil, nil, 200)
	var init struct{ Key, UploadId string }
	if err := xml.Unmarshal(data, &init); err != nil || init.Key != mk {
		t.Fatalf("initiate: %q %v: %s", init.Key, err, data)
	}
	_, data = f.must(t, "GET", "/s3/uni?uploads&prefix="+url.QueryEscape("mp/100%_"), nil, nil, 200)
	var ups struct {
		Upload []struct{ Key string }
	}
	if err := xml.Unmarshal(data, &ups); err != nil || len(ups.Upload) != 1 || ups.Upload[0].Key != mk {
		t.Fatalf("list uploads: %v %v: %s", ups, err, data)
	}
	resp, _ := f.must(t, "PUT", "/s3/uni/"+s3URLEncode(mk)+"?partNumber=1&uploadId="+init.UploadId, []byte("part"), nil, 200)
	done := `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>` + resp.Header.Get("ETag") + `</ETag></Part></CompleteMultipartUpload>`
	_, data = f.must(t, "POST", "/s3/uni/"+s3URLEncode(mk)+"?uploadId="+init.UploadId, []byte(done), nil, 200)
	var comp struct{ Key string }
	if err := xml.Unmarshal(data, &comp); err != nil || comp.Key != mk {
		t.Fatalf("complete: %q %v: %s", comp.Key, err, data)
	}
	// DeleteObjects: keys travel as XML text both ways.
	var doc strings.Builder
	doc.WriteString("<Delete>")
	for _, k := range unicodeKeys {
		doc.WriteString("<Object><Key>")
		_ = xml.EscapeText(&doc, []byte(k))
		doc.WriteString("</Key></Object>")
	}
	doc.WriteString("</Delete>")
	_, data = f.must(t, "POST", "/s3/uni?delete", []byte(doc.String()), nil, 200)
	var del struct {
		Deleted []struct{ Key string }
	}
	if err := xml.Unmarshal(data, &del); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, d := range del.Deleted {
		deleted = append(deleted, d.Key)
	}
	slices.Sort(deleted)
	if !slices.Equal(deleted, want) {
		t.Fatalf("deleted %q", deleted)
	}
	for _, k := range unicodeKeys {
		f.must(t, "HEAD", "/s3/uni/"+s3URLEncode(k), nil, nil, 404)
	}
}

// TestUnstorableKeys: control characters and bytes that are not UTF-8 are InvalidKey; an
// answer naming such a key is still well-formed XML.
func TestUnstorableKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/uni", nil, nil, 200)
	for _, p := range []string{"a%01b", "a%0Ab", "a%0Db", "a%09b", "a%00b", "caf%E9", "a%7F", "a%C2%80", "a/%2E%2E/b", "a%EF%BF%BF"} {
		_, data := f.must(t, "PUT", "/s3/uni/"+p, []byte("x"), nil, 400)
		wantContains(t, data, "<Code>InvalidKey</Code>")
		var e struct{ Code string }
		if err := xml.Unmarshal(data, &e); err != nil {
			t.Fatalf("%s: error answer is not XML: %v: %q", p, err, data)
		}
	}
	// A key that cannot be stored cannot exist: DeleteObjects reports it deleted, as S3 does
	// for any missing key, and the tab goes back as a character reference.
	doc := "<Delete><Object><Key>a&#x9;b</Key></Object><Object><Key>ok</Key></Object></Delete>"
	_, data := f.must(t, "POST", "/s3/uni?delete", []byte(doc), nil, 200)
	wantContains(t, data, "<Deleted><Key>a&#x9;b</Key></Deleted>")
	var res struct {
		Deleted []struct{ Key string }
	}
	if err := xml.Unmarshal(data, &res); err != nil {
		t.Fatalf("delete answer is not XML: %v: %q", err, data)
	}
	if len(res.Deleted) != 2 || res.Deleted[0].Key != "a\tb" || res.Deleted[1].Key != "ok" {
		t.Fatalf("delete answer %s", data)
	}
}

// TestListingUnstorableStrings: list parameters that are not UTF-8 or hold NUL (no stored
// key can match them) are a 400 InvalidArgument, never a 500.
func TestListingUnstorableStrings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/uni", nil, nil, 200)
	for _, q := range []string{"list-type=2&prefix=%FF", "list-type=2&prefix=a%00", "list-type=2&start-after=%FF",
		"marker=%00", "versions&key-marker=%C3", "uploads&prefix=%FF"} {
		_, data := f.must(t, "GET", "/s3/uni?"+q, nil, nil, 400)
		wantContains(t, data, "<Code>InvalidArgument</Code>")
	}
}
