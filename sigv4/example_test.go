package sigv4_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stowage/stowage/sigv4"
)

// Verifying AWS's published header-signed streaming PUT and decoding its body.
func Example() {
	verifier := &sigv4.Verifier{
		Region: "us-east-1",
		Lookup: func(id string) (string, bool) {
			return "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", id == "AKIAIOSFODNN7EXAMPLE"
		},
		Now: func() time.Time { return time.Date(2013, 5, 24, 0, 1, 0, 0, time.UTC) },
	}
	h := sigv4.Header{}
	h.Add("X-Amz-Date", "20130524T000000Z")
	h.Add("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	h.Add("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	h.Add("Content-Encoding", "aws-chunked")
	h.Add("X-Amz-Decoded-Content-Length", "66560")
	h.Add("Content-Length", "66824")
	h.Add("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
		"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
		"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
	req := sigv4.Request{Method: "PUT", RawPath: "/examplebucket/chunkObject.txt", Host: "s3.amazonaws.com", Header: h}

	res, err := verifier.Verify(req)
	if err != nil {
		var e *sigv4.Error
		errors.As(err, &e)
		fmt.Println("reject with", e.Code)
		return
	}
	wire := "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n" + strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" + strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
	body, err := res.Body(strings.NewReader(wire), sigv4.BodyOptions{
		DecodedLength: 66560, // x-amz-decoded-content-length
		Trailer:       req.Header.Get("x-amz-trailer"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	n, err := io.Copy(io.Discard, body) // a store would commit only when err == nil
	fmt.Println(res.AccessKeyID, res.Payload, n, err)
	// Output: AKIAIOSFODNN7EXAMPLE STREAMING-AWS4-HMAC-SHA256-PAYLOAD 66560 <nil>
}
