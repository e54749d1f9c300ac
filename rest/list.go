package rest

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// entryJSON is a list v1 item; folders have null id, times and metadata.
type entryJSON struct {
	Name           string          `json:"name"`
	ID             *string         `json:"id"`
	UpdatedAt      *string         `json:"updated_at"`
	CreatedAt      *string         `json:"created_at"`
	LastAccessedAt *string         `json:"last_accessed_at"`
	Metadata       json.RawMessage `json:"metadata"`
}

func isoPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := isoTime(*t)
	return &s
}

func renderEntry(e gateway.Entry) entryJSON {
	return entryJSON{Name: e.Name, ID: strOrNil(e.ID), UpdatedAt: isoPtr(e.UpdatedAt), CreatedAt: isoPtr(e.CreatedAt),
		LastAccessedAt: isoPtr(e.LastAccessedAt), Metadata: nullJSON(e.Metadata)}
}

// listObjects serves POST /object/list/{bucket} (storage-js list()): one folder level,
// offset pagination.
func (h *Handler) listObjects(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	var body struct {
		Prefix json.RawMessage `json:"prefix"`
		Limit  json.RawMessage `json:"limit"`
		Offset json.RawMessage `json:"offset"`
		SortBy json.RawMessage `json:"sortBy"`
		Search json.RawMessage `json:"search"`
	}
	if err := h.readJSON(c, &body, false); err != nil {
		return err
	}
	in := gateway.ListFolder{}
	if in.Prefix, err = requiredString(body.Prefix, "prefix"); err != nil {
		return err
	}
	limit, _, err := intField(body.Limit, "body/limit", 1)
	if err != nil {
		return err
	}
	offset, _, err := intField(body.Offset, "body/offset", 0)
	if err != nil {
		return err
	}
	in.Limit, in.Offset = int(min(limit, gateway.MaxFolderLimit)), int(min(offset, 1<<31-1))
	if in.SortColumn, in.Desc, err = parseSortBy(body.SortBy, "name", "updated_at", "created_at", "last_accessed_at"); err != nil {
		return err
	}
	if in.Search, _, err = stringField(body.Search, "body/search"); err != nil {
		return err
	}
	if in.Bucket, err = pathParam(c, "bucket"); err != nil {
		return err
	}
	entries, err := h.engine.ListFolder(c.UserContext(), h.caller(c, p, "storage.object.list"), in)
	if err != nil {
		return err
	}
	out := make([]entryJSON, len(entries))
	for i, e := range entries {
		out[i] = renderEntry(e)
	}
	return sendJSON(c, out)
}

// entryV2JSON is a list v2 item: full names, key only in delimiter mode.
type entryV2JSON struct {
	Key *string `json:"key,omitempty"`
	entryJSON
}

// listV2JSON is the list v2 page; the cursor fields are absent unless hasNext.
type listV2JSON struct {
	HasNext       bool          `json:"hasNext"`
	NextCursor    string        `json:"nextCursor,omitempty"`
	NextCursorKey string        `json:"nextCursorKey,omitempty"`
	Folders       []entryV2JSON `json:"folders"`
	Objects       []entryV2JSON `json:"objects"`
}

// listObjectsV2 serves POST /object/list-v2/{bucket}: cursor pagination, with or without
// the "/" delimiter.
func (h *Handler) listObjectsV2(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequiredNoSchema)
	if err != nil {
		return err
	}
	var body struct {
		Prefix        json.RawMessage `json:"prefix"`
		Limit         json.RawMessage `json:"limit"`
		Cursor        json.RawMessage `json:"cursor"`
		WithDelimiter json.RawMessage `json:"with_delimiter"`
		SortBy        json.RawMessage `json:"sortBy"`
	}
	if err := h.readJSON(c, &body, true); err != nil {
		return err
	}
	in := gateway.ListV2{}
	if in.Prefix, _, err = stringField(body.Prefix, "body/prefix"); err != nil {
		return err
	}
	limit, _, err := intField(body.Limit, "body/limit", 1)
	if err != nil {
		return err
	}
	in.Limit = int(min(limit, gateway.MaxListV2Limit))
	if in.Delimiter, _, err = boolField(body.WithDelimiter, "body/with_delimiter"); err != nil {
		return err
	}
	if in.SortColumn, in.Desc, err = parseSortBy(body.SortBy, "name", "updated_at", "created_at"); err != nil {
		return err
	}
	cursor, _, err := stringField(body.Cursor, "body/cursor")
	if err != nil {
		return err
	}
	if cursor != "" {
		if err := decodeCursor(cursor, &in); err != nil {
			return err
		}
	}
	if in.Bucket, err = pathParam(c, "bucket"); err != nil {
		return err
	}
	res, err := h.engine.ListV2(c.UserContext(), h.caller(c, p, "storage.object.list_v2"), in)
	if err != nil {
		return err
	}
	out := listV2JSON{HasNext: res.HasNext, Folders: renderV2(res.Folders, in.Delimiter), Objects: renderV2(res.Objects, in.Delimiter)}
	if res.HasNext {
		out.NextCursor, out.NextCursorKey = encodeCursor(in, res), res.NextStartAfter
	}
	return sendJSON(c, out)
}

func renderV2(entries []gateway.Entry, withKey bool) []entryV2JSON {
	out := make([]entryV2JSON, len(entries))
	for i, e := range entries {
		out[i].entryJSON = renderEntry(e)
		if withKey {
			k := e.Key
			out[i].Key = &k
		}
	}
	return out
}

// maxCursor bounds a client's cursor (a key is at most 1024 bytes).
const maxCursor = 4096

// encodeCursor is the reference's format: base64 of "k:v" lines, l = last name, o/c = the
// sort, a = the last item's sort-column timestamp.
func encodeCursor(in gateway.ListV2, res gateway.ListV2Result) string {
	lines := []string{"l:" + res.NextStartAfter}
	if in.SortColumn != "" {
		lines = append(lines, "o:"+map[bool]string{false: "asc", true: "desc"}[in.Desc], "c:"+in.SortColumn)
	}
	if res.NextSortAfter != nil {
		lines = append(lines, "a:"+isoTime(*res.NextSortAfter))
	}
	return base64.StdEncoding.EncodeToString([]byte(strings.Join(lines, "\n")))
}

// decodeCursor applies a cursor to in; its sort settings override the body's.
func decodeCursor(cursor string, in *gateway.ListV2) error {
	bad := invalidParameter("continuation token")
	if len(cursor) > maxCursor {
		return bad
	}
	raw, err := base64.StdEncoding.DecodeString(cursor)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(cursor, "=")); err != nil {
			return bad
		}
	}
	seenLast := false
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return bad
		}
		switch k {
		case "l":
			in.StartAfter, seenLast = v, true
		case "o":
			if v != "asc" && v != "desc" {
				return bad
			}
			in.Desc = v == "desc"
		case "c":
			if v != "name" && v != "created_at" && v != "updated_at" {
				return bad
			}
			in.SortColumn = v
		case "a":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return bad
			}
			in.SortAfter = &t
		default:
			return bad
		}
	}
	if !seenLast {
		return bad
	}
	return nil
}
