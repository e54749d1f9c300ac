package rest

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// bucketJSON is a bucket as the reference renders it. owner is "" rather than null.
type bucketJSON struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Owner            string   `json:"owner"`
	Public           bool     `json:"public"`
	Type             string   `json:"type,omitempty"`
	FileSizeLimit    *int64   `json:"file_size_limit"`
	AllowedMimeTypes []string `json:"allowed_mime_types"`
	CreatedAt        string   `json:"created_at"`
	UpdatedAt        string   `json:"updated_at"`
}

func renderBucket(b gateway.Bucket, withType bool) bucketJSON {
	out := bucketJSON{ID: b.ID, Name: b.Name, Owner: b.Owner, Public: b.Public, AllowedMimeTypes: b.AllowedMimeTypes,
		CreatedAt: isoTime(b.CreatedAt), UpdatedAt: isoTime(b.UpdatedAt)}
	if withType {
		out.Type = "STANDARD"
	}
	if b.FileSizeLimit != gateway.NoLimit {
		v := b.FileSizeLimit
		out.FileSizeLimit = &v
	}
	return out
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// bucketBody is the JSON of create and update. Raw fields keep "absent" apart from null.
type bucketBody struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Type             json.RawMessage `json:"type"`
	Public           json.RawMessage `json:"public"`
	FileSizeLimit    json.RawMessage `json:"file_size_limit"`
	AllowedMimeTypes json.RawMessage `json:"allowed_mime_types"`
}

// parseFileSizeLimit accepts a number, a "20MB"-style string, or null (no limit).
func parseFileSizeLimit(raw json.RawMessage) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if s == "null" {
		return gateway.NoLimit, nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		_ = json.Unmarshal(raw, &str)
		return parseSizeString(str)
	}
	// A JSON number must be a non-negative integer (1e3 is one); anything else fails as a
	// string would, since the reference's schema falls back to its string form.
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f == math.Trunc(f) && f <= maxSizeLimit {
		return int64(f), nil
	}
	return parseSizeString(s)
}

func parseMimeTypes(raw json.RawMessage) ([]string, error) {
	if strings.TrimSpace(string(raw)) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, newAPIError(400, 400, "Error", "InvalidRequest", "body/allowed_mime_types must be array")
	}
	out := list[:0]
	for _, m := range list {
		if m == "" {
			continue
		}
		if !validMimePattern(m) {
			return nil, newAPIError(400, 415, "invalid_mime_type", "InvalidMimeType", "mime type "+m+" is not supported")
		}
		out = append(out, m)
	}
	return out, nil
}

// mimePattern is the reference's allowed_mime_types entry: type/subtype (letters, digits,
// -+.) with an optional ;charset=…, or anything ending in * (image/*).
var mimePattern = regexp.MustCompile(`^([a-zA-Z0-9\-+.]+)/([a-zA-Z0-9\-+.]+)(;\s*charset=[a-zA-Z0-9\-]+)?$|\*$`)

func validMimePattern(m string) bool { return len(m) <= 1000 && mimePattern.MatchString(m) }

// parseBool reads a present boolean field of a bucket body; null is false.
func parseBool(raw json.RawMessage, field string) (bool, error) {
	v, _, err := boolField(raw, "body/"+field)
	return v, err
}

func (h *Handler) createBucket(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	var body bucketBody
	if err := h.readJSON(c, &body, false); err != nil {
		return err
	}
	if body.Name == "" {
		return newAPIError(400, 400, "Error", "InvalidRequest", "body must have required property 'name'")
	}
	if typ, ok, err := stringField(body.Type, "body/type"); err != nil {
		return err
	} else if ok && typ == "ANALYTICS" {
		// The reference's FeatureNotEnabled wraps its reason in a fixed sentence.
		return newAPIError(400, 409, "FeatureNotEnabled", "FeatureNotEnabled", "The feature Iceberg buckets are not enabled for this tenant is not enabled for this resource")
	} else if ok && typ != "STANDARD" {
		return validationError("body/type must be equal to one of the allowed values")
	}
	in := gateway.CreateBucket{ID: body.ID, Name: body.Name, FileSizeLimit: gateway.NoLimit}
	if in.ID == "" {
		in.ID = body.Name
	}
	if body.Public != nil {
		if in.Public, err = parseBool(body.Public, "public"); err != nil {
			return err
		}
	}
	if body.FileSizeLimit != nil {
		if in.FileSizeLimit, err = parseFileSizeLimit(body.FileSizeLimit); err != nil {
			return err
		}
	}
	if body.AllowedMimeTypes != nil {
		if in.AllowedMimeTypes, err = parseMimeTypes(body.AllowedMimeTypes); err != nil {
			return err
		}
	}
	b, err := h.engine.CreateBucket(c.UserContext(), h.caller(c, p, "storage.bucket.create"), in)
	if err != nil {
		return bucketLimitError(err)
	}
	return sendJSON(c, fiber.Map{"name": b.Name})
}

func (h *Handler) listBuckets(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	in := gateway.ListBuckets{Search: c.Query("search"), SortColumn: c.Query("sortColumn"), Descending: c.Query("sortOrder") == "desc"}
	limit, _, err := intField(queryRaw(c, "limit"), "querystring/limit", 1)
	if err != nil {
		return err
	}
	offset, _, err := intField(queryRaw(c, "offset"), "querystring/offset", 0)
	if err != nil {
		return err
	}
	in.Limit, in.Offset = int(min(limit, 1<<31-1)), int(min(offset, 1<<31-1))
	if in.SortColumn != "" && !contains([]string{"id", "name", "created_at", "updated_at"}, in.SortColumn) {
		return validationError("querystring/sortColumn must be equal to one of the allowed values")
	}
	if o := c.Query("sortOrder"); o != "" && o != "asc" && o != "desc" {
		return validationError("querystring/sortOrder must be equal to one of the allowed values")
	}
	list, err := h.engine.ListBuckets(c.UserContext(), h.caller(c, p, "storage.bucket.list"), in)
	if err != nil {
		return err
	}
	withType := !omitBucketType(c.Get("X-Client-Info"), c.Get(fiber.HeaderUserAgent))
	out := make([]bucketJSON, len(list))
	for i, b := range list {
		out[i] = renderBucket(b, withType)
	}
	return sendJSON(c, out)
}

func (h *Handler) getBucket(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	b, err := h.engine.GetBucket(c.UserContext(), h.caller(c, p, "storage.bucket.get"), c.Params("bucket"))
	if err != nil {
		return err
	}
	return sendJSON(c, renderBucket(b, false))
}

func (h *Handler) updateBucket(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	var body bucketBody
	if err := h.readJSON(c, &body, false); err != nil {
		return err
	}
	var in gateway.UpdateBucket
	if body.Public != nil {
		v, err := parseBool(body.Public, "public")
		if err != nil {
			return err
		}
		in.Public = gateway.Some(v)
	}
	if body.FileSizeLimit != nil {
		v, err := parseFileSizeLimit(body.FileSizeLimit)
		if err != nil {
			return err
		}
		in.FileSizeLimit = gateway.Some(v)
	}
	if body.AllowedMimeTypes != nil {
		v, err := parseMimeTypes(body.AllowedMimeTypes)
		if err != nil {
			return err
		}
		in.AllowedMimeTypes = gateway.Some(v)
	}
	if !in.Public.Set && !in.FileSizeLimit.Set && !in.AllowedMimeTypes.Set {
		return newAPIError(400, 400, "Error", "InvalidRequest", "body must have at least 1 properties")
	}
	caller := h.caller(c, p, "storage.bucket.update")
	// A bucket turning private is purged from the CDN (best effort, rest-api.md §1.4): what
	// it cached while the bucket was public must not stay readable there.
	wasPublic := false
	if h.opts.PurgeBucket != nil && in.Public.Set && !in.Public.Value {
		if b, err := h.engine.GetBucketAsService(c.UserContext(), caller, c.Params("bucket")); err == nil {
			wasPublic = b.Public
		}
	}
	if _, err := h.engine.UpdateBucket(c.UserContext(), caller, c.Params("bucket"), in); err != nil {
		return bucketLimitError(err)
	}
	if wasPublic {
		h.opts.PurgeBucket(c.UserContext(), c.Params("bucket"))
	}
	return sendJSON(c, fiber.Map{"message": "Successfully updated"})
}

func (h *Handler) deleteBucket(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	if err := h.engine.DeleteBucket(c.UserContext(), h.caller(c, p, "storage.bucket.delete"), c.Params("bucket"), gateway.DeleteBucketOptions{}); err != nil {
		return err
	}
	return sendJSON(c, fiber.Map{"message": "Successfully deleted"})
}

func (h *Handler) emptyBucket(c *fiber.Ctx) error {
	p, err := h.serviceRole(c)
	if err != nil {
		return err
	}
	if _, err := h.engine.EmptyBucket(c.UserContext(), h.caller(c, p, "storage.bucket.empty"), c.Params("bucket")); err != nil {
		var ge *gateway.Error
		if errors.As(err, &ge) && ge.Code == gateway.CodeInvalidArgument {
			// Over STORAGE_EMPTY_BUCKET_MAX: the reference's InvalidRequest carries a logical 409.
			return newAPIError(400, 409, "InvalidRequest", "InvalidRequest", ge.Message)
		}
		return err
	}
	return sendJSON(c, fiber.Map{"message": "Empty bucket has been queued. Completion may take up to an hour."})
}

// bucketLimitError answers a file_size_limit over UPLOAD_FILE_SIZE_LIMIT with the
// reference's generic EntityTooLarge message.
func bucketLimitError(err error) error {
	if gateway.CodeOf(err) == gateway.CodeTooLarge {
		v := errorTable[gateway.CodeTooLarge]
		return &v
	}
	return err
}

// queryRaw returns a query parameter as a JSON string for the coercing field readers (nil
// when absent).
func queryRaw(c *fiber.Ctx, name string) json.RawMessage {
	if !c.Request().URI().QueryArgs().Has(name) {
		return nil
	}
	b, _ := json.Marshal(c.Query(name))
	return b
}

// Old Python clients fail on a bucket's type: supabase-py before 2.18.0 (X-Client-Info
// "supabase-py/2.17.0") and storage3 before 0.12.1 (User-Agent "supabase-py/storage3
// v0.12.0"). The reference leaves the field out of the listing for them.
var (
	supabasePyVersion = regexp.MustCompile(`(?i)supabase-py/(\d+)\.(\d+)\.(\d+)`)
	storage3Version   = regexp.MustCompile(`(?i)supabase-py/storage3 v(\d+)\.(\d+)\.(\d+)`)
)

func omitBucketType(clientInfo, userAgent string) bool {
	return versionBefore(supabasePyVersion, clientInfo, [3]int{2, 18, 0}) ||
		versionBefore(storage3Version, userAgent, [3]int{0, 12, 1})
}

// versionBefore reports whether the first version re finds in header is older than min.
func versionBefore(re *regexp.Regexp, header string, min [3]int) bool {
	m := re.FindStringSubmatch(header)
	if m == nil {
		return false
	}
	for i := range 3 {
		v, err := strconv.Atoi(m[i+1])
		if err != nil || v > min[i] {
			return false
		}
		if v < min[i] {
			return true
		}
	}
	return false
}
