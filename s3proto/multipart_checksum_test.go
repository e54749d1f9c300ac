package s3proto

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/url"
	"strings"
	"testing"
)

// testHash is an S3 checksum algorithm computed here with the standard library only, so
// the handler's results are checked against an independent implementation.
func testHash(alg string) hash.Hash {
	switch alg {
	case "CRC32":
		return crc32.NewIEEE()
	case "CRC32C":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "CRC64NVME":
		return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5))
	case "SHA1":
		return sha1.New()
	case "SHA256":
		return sha256.New()
	}
	panic("unknown algorithm " + alg)
}

func testSum(alg string, data ...[]byte) (raw []byte, b64 string) {
	h := testHash(alg)
	for _, d := range data {
		h.Write(d)
	}
	raw = h.Sum(nil)
	return raw, base64.StdEncoding.EncodeToString(raw)
}

// completeXMLWithChecksums is a CompleteMultipartUpload body naming each part's checksum.
func completeXMLWithChecksums(alg string, etags, sums []string) string {
	var b strings.Builder
	b.WriteString("<CompleteMultipartUpload>")
	for i := range etags {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag><Checksum%s>%s</Checksum%s></Part>",
			i+1, xmlEscape(etags[i]), alg, sums[i], alg)
	}
	b.WriteString("</CompleteMultipartUpload>")
	return b.String()
}

func TestMultipartChecksums(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/mpsum", nil, nil, 200)
	p1, p2 := partBody(7, 5<<20), []byte("the last part")

	cases := []struct {
		name, alg, typ string // typ as sent; "" defaults to COMPOSITE
		wantType       string
	}{
		{"crc32 composite", "CRC32", "", "COMPOSITE"},
		{"crc32c composite", "CRC32C", "COMPOSITE", "COMPOSITE"},
		{"sha1 composite", "SHA1", "", "COMPOSITE"},
		{"sha256 composite", "SHA256", "COMPOSITE", "COMPOSITE"},
		{"crc32 full object", "CRC32", "FULL_OBJECT", "FULL_OBJECT"},
		{"crc32c full object", "CRC32C", "FULL_OBJECT", "FULL_OBJECT"},
		{"crc64nvme full object", "CRC64NVME", "FULL_OBJECT", "FULL_OBJECT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "/s3/mpsum/" + strings.ReplaceAll(tc.name, " ", "-")
			hdr := map[string]string{"x-amz-checksum-algorithm": strings.ToLower(tc.alg)}
			if tc.typ != "" {
				hdr["x-amz-checksum-type"] = tc.typ
			}
			resp, data := f.must(t, "POST", key+"?uploads", nil, hdr, 200)
			if resp.Header.Get("x-amz-checksum-algorithm") != tc.alg || resp.Header.Get("x-amz-checksum-type") != tc.wantType {
				t.Fatalf("create headers: %v", resp.Header)
			}
			var init initiateMultipartUploadResult
			if err := xml.Unmarshal(data, &init); err != nil {
				t.Fatal(err)
			}
			base := key + "?uploadId=" + init.UploadID
			raw1, sum1 := testSum(tc.alg, p1)
			raw2, sum2 := testSum(tc.alg, p2)
			hname := "x-amz-checksum-" + strings.ToLower(tc.alg)
			// Part 1 declares its checksum; part 2 gets it computed from the upload's algorithm.
			resp, _ = f.must(t, "PUT", base+"&partNumber=1", p1, map[string]string{hname: sum1}, 200)
			etag1 := resp.Header.Get("ETag")
			if resp.Header.Get(hname) != sum1 {
				t.Fatalf("part 1 %s = %q, want %q", hname, resp.Header.Get(hname), sum1)
			}
			resp, _ = f.must(t, "PUT", base+"&partNumber=2", p2, nil, 200)
			etag2 := resp.Header.Get("ETag")
			if resp.Header.Get(hname) != sum2 {
				t.Fatalf("part 2 %s = %q, want %q", hname, resp.Header.Get(hname), sum2)
			}
			// ListMultipartUploads names the upload's algorithm and type, as S3 does.
			_, data = f.must(t, "GET", "/s3/mpsum?uploads&prefix="+url.QueryEscape(strings.TrimPrefix(key, "/s3/mpsum/")), nil, nil, 200)
			wantContains(t, data, "<UploadId>"+init.UploadID+"</UploadId>", "<ChecksumAlgorithm>"+tc.alg+"</ChecksumAlgorithm>",
				"<ChecksumType>"+tc.wantType+"</ChecksumType>")
			_, data = f.must(t, "GET", base, nil, nil, 200)
			wantContains(t, data, "<ChecksumAlgorithm>"+tc.alg+"</ChecksumAlgorithm>", "<ChecksumType>"+tc.wantType+"</ChecksumType>",
				"<Checksum"+tc.alg+">"+sum1+"</Checksum"+tc.alg+">", "<Checksum"+tc.alg+">"+sum2+"</Checksum"+tc.alg+">")

			_, data = f.must(t, "POST", base, []byte(completeXMLWithChecksums(tc.alg, []string{etag1, etag2}, []string{sum2, sum1})), nil, 400)
			wantContains(t, data, "<Code>InvalidPart</Code>")

			var want string
			if tc.wantType == "COMPOSITE" {
				_, want = testSum(tc.alg, raw1, raw2)
				want += "-2"
			} else {
				_, want = testSum(tc.alg, p1, p2)
			}
			// A whole-object checksum that does not match, or of another algorithm, completes
			// nothing; the right one (a COMPOSITE value with or without its "-N") does.
			body := []byte(completeXMLWithChecksums(tc.alg, []string{etag1, etag2}, []string{sum1, sum2}))
			_, wrong := testSum(tc.alg, p2, p1)
			_, data = f.must(t, "POST", base, body, map[string]string{hname: wrong}, 400)
			wantContains(t, data, "<Code>BadDigest</Code>")
			other := "x-amz-checksum-sha1"
			if tc.alg == "SHA1" {
				other = "x-amz-checksum-sha256"
			}
			_, data = f.must(t, "POST", base, body, map[string]string{other: sum1}, 400)
			wantContains(t, data, "<Code>InvalidArgument</Code>")
			claim := want
			if tc.wantType == "COMPOSITE" {
				claim = strings.TrimSuffix(want, "-2")
			}
			_, data = f.must(t, "POST", base, body, map[string]string{hname: claim}, 200)
			wantContains(t, data, "<Checksum"+tc.alg+">"+want+"</Checksum"+tc.alg+">", "<ChecksumType>"+tc.wantType+"</ChecksumType>")

			for _, method := range []string{"HEAD", "GET"} {
				resp, _ = f.must(t, method, key, nil, map[string]string{"x-amz-checksum-mode": "ENABLED"}, 200)
				if resp.Header.Get(hname) != want || resp.Header.Get("x-amz-checksum-type") != tc.wantType {
					t.Fatalf("%s: %s = %q (type %q), want %q (%s)", method, hname, resp.Header.Get(hname),
						resp.Header.Get("x-amz-checksum-type"), want, tc.wantType)
				}
			}
			// GetObjectAttributes names a composite checksum without its "-N" (as S3 and
			// MinIO; minio-go's functional tests check it), the part count being PartsCount.
			_, data = f.must(t, "GET", key+"?attributes", nil, map[string]string{"x-amz-object-attributes": "Checksum,ObjectParts"}, 200)
			wantContains(t, data, "<Checksum"+tc.alg+">"+strings.TrimSuffix(want, "-2")+"</Checksum"+tc.alg+">",
				"<ChecksumType>"+tc.wantType+"</ChecksumType>", "<PartsCount>2</PartsCount>")
			// A part read by partNumber answers that part's checksum when the object's is
			// COMPOSITE (minio-go checks it), none for FULL_OBJECT.
			for n, sum := range map[int]string{1: sum1, 2: sum2} {
				for _, method := range []string{"HEAD", "GET"} {
					resp, _ = f.must(t, method, fmt.Sprintf("%s?partNumber=%d", key, n), nil, map[string]string{"x-amz-checksum-mode": "ENABLED"}, 206)
					wantPart := sum
					if tc.wantType != "COMPOSITE" {
						wantPart = ""
					}
					if resp.Header.Get(hname) != wantPart {
						t.Fatalf("%s part %d: %s = %q, want %q", method, n, hname, resp.Header.Get(hname), wantPart)
					}
				}
			}
		})
	}

	t.Run("upload part copy computes the checksum", func(t *testing.T) {
		f.must(t, "PUT", "/s3/mpsum/copy-src", p2, nil, 200)
		_, data := f.must(t, "POST", "/s3/mpsum/copy-dst?uploads", nil, map[string]string{"x-amz-checksum-algorithm": "SHA256"}, 200)
		var init initiateMultipartUploadResult
		if err := xml.Unmarshal(data, &init); err != nil {
			t.Fatal(err)
		}
		base := "/s3/mpsum/copy-dst?uploadId=" + init.UploadID
		f.must(t, "PUT", base+"&partNumber=1", nil, map[string]string{"x-amz-copy-source": "/mpsum/copy-src"}, 200)
		f.must(t, "PUT", base+"&partNumber=2", nil, map[string]string{"x-amz-copy-source": "/mpsum/copy-src", "x-amz-copy-source-range": "bytes=4-7"}, 200)
		_, whole := testSum("SHA256", p2)
		_, ranged := testSum("SHA256", p2[4:8])
		_, data = f.must(t, "GET", base, nil, nil, 200)
		wantContains(t, data, "<ChecksumSHA256>"+whole+"</ChecksumSHA256>", "<ChecksumSHA256>"+ranged+"</ChecksumSHA256>")
	})

	errCases := []struct {
		name   string
		create map[string]string
		part   map[string]string // headers of an UploadPart after a successful create
		code   string
	}{
		{"unknown algorithm", map[string]string{"x-amz-checksum-algorithm": "MD5"}, nil, "InvalidArgument"},
		{"type without algorithm", map[string]string{"x-amz-checksum-type": "COMPOSITE"}, nil, "InvalidArgument"},
		{"full object sha256", map[string]string{"x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-type": "FULL_OBJECT"}, nil, "InvalidArgument"},
		{"composite crc64nvme", map[string]string{"x-amz-checksum-algorithm": "CRC64NVME"}, nil, "InvalidArgument"},
		{"unknown type", map[string]string{"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "PARTIAL"}, nil, "InvalidArgument"},
		{"part with another algorithm", map[string]string{"x-amz-checksum-algorithm": "CRC32"},
			map[string]string{"x-amz-checksum-sha256": func() string { _, s := testSum("SHA256", p2); return s }()}, "InvalidArgument"},
		{"part with a wrong checksum", map[string]string{"x-amz-checksum-algorithm": "CRC32"},
			map[string]string{"x-amz-checksum-crc32": "AAAAAA=="}, "BadDigest"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			key := "/s3/mpsum/err-" + strings.ReplaceAll(tc.name, " ", "-")
			if tc.part == nil {
				_, data := f.must(t, "POST", key+"?uploads", nil, tc.create, 400)
				wantContains(t, data, "<Code>"+tc.code+"</Code>")
				return
			}
			_, data := f.must(t, "POST", key+"?uploads", nil, tc.create, 200)
			var init initiateMultipartUploadResult
			if err := xml.Unmarshal(data, &init); err != nil {
				t.Fatal(err)
			}
			_, data = f.must(t, "PUT", key+"?uploadId="+init.UploadID+"&partNumber=1", p2, tc.part, 400)
			wantContains(t, data, "<Code>"+tc.code+"</Code>")
		})
	}
}
