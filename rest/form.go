package rest

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"regexp"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// Limits of multipart form uploads, as the reference's form parser enforces them.
const (
	maxFormFields = 10
	// maxFormField bounds one non-file field; user metadata over it is EntityTooLarge.
	maxFormField = 1 << 20
	// maxFormTail bounds what is drained after the file part (closing boundary, ignored
	// trailing fields) so the connection can be reused.
	maxFormTail = 1 << 20
)

// formFile is what a form upload learned before its file part, plus that part as a stream.
type formFile struct {
	body         io.Reader
	contentType  string
	cacheControl string
	userMetadata json.RawMessage
	reader       *multipart.Reader
}

// formLocal keys the multipart reader in the request's locals, to drain it after commit.
type formLocal struct{}

// readFormHead reads the fields that precede the first file part (cacheControl,
// contentType, metadata/userMetadata) and stops at the file part without reading it: the
// part is returned as a stream. Fields after the file are ignored, as in the reference.
func readFormHead(r *multipart.Reader) (formFile, error) {
	f := formFile{cacheControl: gateway.DefaultCacheControl, userMetadata: json.RawMessage(`{}`), reader: r}
	var contentType string
	for fields := 0; ; fields++ {
		part, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return f, invalidRequest("No content provided")
		}
		if err != nil {
			return f, invalidRequest("Invalid multipart form: " + err.Error())
		}
		if isFilePart(part) {
			f.body = part
			f.contentType = contentType
			if f.contentType == "" {
				f.contentType = part.Header.Get("Content-Type")
			}
			if f.contentType == "" {
				f.contentType = "text/plain"
			}
			return f, nil
		}
		if fields >= maxFormFields {
			return f, invalidRequest("Reach fields limit")
		}
		value, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
		if err != nil {
			return f, &gateway.Error{Code: gateway.CodeIncompleteBody, Err: err}
		}
		name := part.FormName()
		if len(value) > maxFormField {
			if name == "metadata" || name == "userMetadata" {
				return f, &gateway.Error{Code: gateway.CodeTooLarge, Message: "The user_metadata exceeded the maximum allowed size"}
			}
			return f, invalidRequest("Form field " + name + " is too large")
		}
		switch name {
		case "cacheControl":
			if v := string(value); v != "" {
				f.cacheControl = "max-age=" + v
			}
		case "contentType":
			contentType = string(value)
		case "metadata", "userMetadata":
			// Deviation: the reference ignores a value that is not a JSON object (x-metadata).
			if !isJSONObject(value) {
				return f, invalidMetadata("Invalid " + name + " field: it must be a JSON object")
			}
			f.userMetadata = value
		}
	}
}

// isFilePart reports whether a part carries a filename parameter (even an empty one).
func isFilePart(p *multipart.Part) bool {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return false
	}
	_, ok := params["filename"]
	return ok
}

// drainForm reads the rest of a form body after its file part was stored, bounded.
func drainForm(c *fiber.Ctx) {
	r, ok := c.Locals(formLocal{}).(*multipart.Reader)
	if !ok {
		return
	}
	for i := 0; i <= maxFormFields; i++ {
		part, err := r.NextPart()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, io.LimitReader(part, maxFormTail)); err != nil {
			return
		}
	}
}

// robotsDirective matches one X-Robots-Tag directive, optionally prefixed by a bot name.
var robotsDirective = regexp.MustCompile(`^(?:[a-zA-Z0-9_-]+:\s*)?(?:all|noindex|nofollow|none|noarchive|nosnippet|notranslate|noimageindex|indexifembedded|noai|noimageai|max-snippet:\s*-?\d+|max-video-preview:\s*-?\d+|max-image-preview:\s*(?:none|standard|large)|unavailable_after:\s*.+)$`)

// validRobotsTag checks an x-robots-tag upload header: comma-separated known directives.
func validRobotsTag(v string) bool {
	if len(v) > 1024 {
		return false
	}
	for _, d := range strings.Split(v, ",") {
		if !robotsDirective.MatchString(strings.TrimSpace(d)) {
			return false
		}
	}
	return true
}
