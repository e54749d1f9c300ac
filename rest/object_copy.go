package rest

import (
	"encoding/json"
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// copyBody is the JSON of POST /object/copy and /object/move.
type copyBody struct {
	BucketID          json.RawMessage `json:"bucketId"`
	SourceKey         json.RawMessage `json:"sourceKey"`
	DestinationKey    json.RawMessage `json:"destinationKey"`
	DestinationBucket json.RawMessage `json:"destinationBucket"`
	Metadata          json.RawMessage `json:"metadata"`
	CopyMetadata      json.RawMessage `json:"copyMetadata"`
}

// parse reads the fields both routes share; destinationBucket defaults to bucketId.
func (b copyBody) parse() (gateway.CopyObject, error) {
	var in gateway.CopyObject
	var err error
	if in.SrcBucket, err = requiredString(b.BucketID, "bucketId"); err != nil {
		return in, err
	}
	if in.SrcKey, err = requiredString(b.SourceKey, "sourceKey"); err != nil {
		return in, err
	}
	if in.DstKey, err = requiredString(b.DestinationKey, "destinationKey"); err != nil {
		return in, err
	}
	dst, ok, err := stringField(b.DestinationBucket, "body/destinationBucket")
	if err != nil {
		return in, err
	}
	in.DstBucket = in.SrcBucket
	if ok && dst != "" {
		in.DstBucket = dst
	}
	return in, nil
}

// copyObject serves POST /object/copy. copyMetadata (default true) copies the source's
// system and user metadata; false starts from the source's system metadata, applies the
// body's metadata.cacheControl/mimetype and takes user metadata from x-metadata.
func (h *Handler) copyObject(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	var body copyBody
	if err := h.readJSON(c, &body, false); err != nil {
		return err
	}
	in, err := body.parse()
	if err != nil {
		return err
	}
	in.Upsert = c.Get("x-upsert") == "true"
	copyMeta, ok, err := boolField(body.CopyMetadata, "body/copyMetadata")
	if err != nil {
		return err
	}
	if ok && !copyMeta {
		var meta struct {
			CacheControl string `json:"cacheControl"`
			Mimetype     string `json:"mimetype"`
		}
		if !absent(body.Metadata) && json.Unmarshal(body.Metadata, &meta) != nil {
			return validationError("body/metadata must be object")
		}
		in.ReplaceMetadata, in.InheritSystemMetadata = true, true
		in.ContentType, in.CacheControl = meta.Mimetype, meta.CacheControl
		if x := c.Get("x-metadata"); x != "" {
			if in.UserMetadata, err = userMetadataHeader(x); err != nil {
				return err
			}
		}
	}
	obj, err := h.engine.CopyObject(c.UserContext(), h.caller(c, p, "storage.object.copy"), in)
	if err != nil {
		return copyError(err, in)
	}
	setVersionID(c, obj)
	return sendJSON(c, copyJSON{Key: in.DstBucket + "/" + in.DstKey, ID: obj.ID, objectJSON: renderObject(obj)})
}

// copyJSON is the copy response: the row plus the legacy Key/Id fields.
type copyJSON struct {
	Key string `json:"Key"`
	ID  string `json:"Id"`
	objectJSON
}

// moveObject serves POST /object/move: the row keeps its id and gets the new name.
func (h *Handler) moveObject(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	var body copyBody
	if err := h.readJSON(c, &body, false); err != nil {
		return err
	}
	in, err := body.parse()
	if err != nil {
		return err
	}
	obj, err := h.engine.MoveObject(c.UserContext(), h.caller(c, p, "storage.object.move"), in)
	if err != nil {
		if gateway.CodeOf(err) == gateway.CodeKeyAlreadyExists {
			// The reference's move hits the unique index without the upload's
			// specialisation, so it names the generic code.
			return newAPIError(400, 409, "Duplicate", "ResourceAlreadyExists", "The resource already exists")
		}
		return copyError(err, in)
	}
	setVersionID(c, obj) // the destination's new version
	return sendJSON(c, fiber.Map{"message": "Successfully moved"})
}

// copyError renders a missing destination bucket as the reference does: its copy and move
// write the destination row without looking the bucket up, so the foreign key answers
// (InvalidRequest, logical 404), not NoSuchBucket.
func copyError(err error, in gateway.CopyObject) error {
	var ge *gateway.Error
	if errors.As(err, &ge) && ge.Code == gateway.CodeNoSuchBucket && ge.Bucket == in.DstBucket {
		return newAPIError(400, 404, "InvalidRequest", "InvalidRequest", "The related resource does not exist")
	}
	return err
}
