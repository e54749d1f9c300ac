package gateway

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
)

// Event types, as the reference server names its webhook events (event.type).
const (
	EventObjectCreatedPost     = "ObjectCreated:Post"
	EventObjectCreatedPut      = "ObjectCreated:Put"
	EventObjectCreatedCopy     = "ObjectCreated:Copy"
	EventObjectCreatedMove     = "ObjectCreated:Move"
	EventObjectRemovedDelete   = "ObjectRemoved:Delete"
	EventObjectRemovedMove     = "ObjectRemoved:Move"
	EventObjectUpdatedMetadata = "ObjectUpdated:Metadata"
	EventBucketCreated         = "Bucket:Created"
	EventBucketDeleted         = "Bucket:Deleted"
)

// S3 event names (without the "s3:" prefix of notification configurations), the names
// S3 bucket notifications filter on and report as Records[].eventName.
const (
	S3EventPut            = "ObjectCreated:Put"
	S3EventPost           = "ObjectCreated:Post"
	S3EventCopy           = "ObjectCreated:Copy"
	S3EventCompleteUpload = "ObjectCreated:CompleteMultipartUpload"
	S3EventDelete         = "ObjectRemoved:Delete"
	S3EventTagging        = "ObjectTagging:Put"
	S3EventTaggingDelete  = "ObjectTagging:Delete"
	eventVersion          = "v1" // the reference's $version
	uploadTypeStandard    = "standard"
	uploadTypeResumable   = "resumable"
	uploadTypeS3          = "s3"
	s3OperationPrefix     = "storage.s3."
	s3PostObjectOperation = s3OperationPrefix + "PostObject"
)

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id that events record as payload.reqId.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id WithRequestID stored in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	v, _ := ctx.Value(requestIDKey{}).(string)
	return v
}

type tenantHostKey struct{}

// WithTenantHost returns ctx carrying the host a request named its tenant by (multi-tenant
// mode's X-Forwarded-Host), which events record as tenant.host, as the reference does.
func WithTenantHost(ctx context.Context, host string) context.Context {
	return context.WithValue(ctx, tenantHostKey{}, host)
}

// tenantHostFrom returns the host WithTenantHost stored in ctx, or "".
func tenantHostFrom(ctx context.Context) string {
	v, _ := ctx.Value(tenantHostKey{}).(string)
	return v
}

// eventSpec names the event a commit records; zero fields are derived from the commit
// (Post for a new key, Put over an existing one) and the caller's dialect.
type eventSpec struct {
	refType, s3Name, uploadType string
}

// outboxEvent is one change to record.
type outboxEvent struct {
	refType, s3Name       string
	bucket, name, version string
	meta                  json.RawMessage // the row's metadata document (reduced to the reference's keys)
	uploadType            string
	oldObject             *eventObjectRef
	bucketType            string
}

type eventObjectRef struct {
	Name     string `json:"name"`
	BucketID string `json:"bucketId"`
	Version  string `json:"version,omitempty"`
}

type eventTenant struct {
	Ref  string `json:"ref"`
	Host string `json:"host"`
}

// eventPayload is the reference's webhook payload (event.payload).
type eventPayload struct {
	BucketID   string          `json:"bucketId"`
	Name       string          `json:"name,omitempty"`
	Version    string          `json:"version,omitempty"`
	Metadata   *systemMetadata `json:"metadata,omitempty"`
	UploadType string          `json:"uploadType,omitempty"`
	OldObject  *eventObjectRef `json:"oldObject,omitempty"`
	Type       string          `json:"type,omitempty"` // bucket type of Bucket:Created
	ReqID      string          `json:"reqId,omitempty"`
	Tenant     eventTenant     `json:"tenant"`
}

// eventBody is the reference's event object (the webhook body's "event").
type eventBody struct {
	Type      string       `json:"type"`
	Region    string       `json:"region"`
	Version   string       `json:"$version"`
	ApplyTime int64        `json:"applyTime"`
	Payload   eventPayload `json:"payload"`
}

// emit records evs in tx, the transaction of the change they describe, so they commit or
// roll back with it. tx must run as the service role. Nothing is recorded when events are
// off (no target configured).
func (e *Engine) emit(ctx context.Context, tx db.Tx, evs ...outboxEvent) error {
	if !e.opts.Events || len(evs) == 0 {
		return nil
	}
	rows, err := e.eventRows(ctx, evs)
	if err != nil {
		return err
	}
	return tx.AddEvents(ctx, rows)
}

// emitAtCommit is emit with the insert sent in the COMMIT's round trip (the write path's
// commit: events on cost no round trip). tx must commit as the service role.
func (e *Engine) emitAtCommit(ctx context.Context, tx db.Tx, evs ...outboxEvent) error {
	if !e.opts.Events || len(evs) == 0 {
		return nil
	}
	rows, err := e.eventRows(ctx, evs)
	if err != nil {
		return err
	}
	tx.QueueAddEvents(rows)
	return nil
}

// eventRows renders evs as outbox rows with the reference's event body.
func (e *Engine) eventRows(ctx context.Context, evs []outboxEvent) ([]db.Event, error) {
	reqID, host := RequestIDFrom(ctx), tenantHostFrom(ctx)
	now := e.now()
	rows := make([]db.Event, len(evs))
	for i, ev := range evs {
		p := eventPayload{BucketID: ev.bucket, Name: ev.name, Version: ev.version, UploadType: ev.uploadType,
			OldObject: ev.oldObject, Type: ev.bucketType, ReqID: reqID, Tenant: eventTenant{Ref: e.opts.TenantID, Host: host}}
		var size int64
		var etag string
		if len(ev.meta) > 0 {
			m, _, _ := readMetadata(ev.meta)
			p.Metadata, size, etag = &m, m.Size, m.ETag
		}
		body, err := json.Marshal(eventBody{Type: ev.refType, Region: e.opts.Region, Version: eventVersion,
			ApplyTime: now.UnixMilli(), Payload: p})
		if err != nil {
			return nil, err
		}
		// Time-ordered (UUID version 7): the outbox's unique index on event_id then takes
		// each new id at one place, as its other indexes do, where random ids dirtied a
		// random leaf page of an index holding a day of events per upload, and after each
		// checkpoint put that page's full image in the WAL the upload's commit flushes
		// (db BenchmarkAddEventsLargeOutbox, docs/events.md run 12).
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		rows[i] = db.Event{EventID: id.String(), Type: ev.refType, S3Name: ev.s3Name, BucketID: ev.bucket,
			Name: ev.name, Version: ev.version, Size: size, ETag: etag, Body: body}
	}
	return rows, nil
}

// uploadType is the reference's payload.uploadType of an upload by c.
func uploadType(c Caller) string {
	if strings.HasPrefix(c.Operation, s3OperationPrefix) {
		return uploadTypeS3
	}
	return uploadTypeStandard
}

// commitEvent is the event of a committed version: spec's names, else Post for a new key
// and Put over an existing one (the reference's rule), and S3's name for the dialect.
func commitEvent(c Caller, row db.Object, found bool, spec eventSpec) outboxEvent {
	ev := outboxEvent{refType: spec.refType, s3Name: spec.s3Name, uploadType: spec.uploadType,
		bucket: row.BucketID, name: row.Name, version: row.Version, meta: row.Metadata}
	if ev.refType == "" {
		ev.refType = EventObjectCreatedPost
		if found {
			ev.refType = EventObjectCreatedPut
		}
		if ev.uploadType == "" {
			ev.uploadType = uploadType(c)
		}
	}
	if ev.s3Name == "" {
		ev.s3Name = S3EventPut
		if c.Operation == s3PostObjectOperation {
			ev.s3Name = S3EventPost
		}
	}
	return ev
}

// deleteEvents are the events of deleted rows.
func deleteEvents(rows []db.Object) []outboxEvent {
	out := make([]outboxEvent, len(rows))
	for i, r := range rows {
		out[i] = outboxEvent{refType: EventObjectRemovedDelete, s3Name: S3EventDelete, bucket: r.BucketID, name: r.Name,
			version: r.Version, meta: r.Metadata}
	}
	return out
}

// moveEvents are the reference's pair for a move: the source removed, the destination
// created (with oldObject naming the source). S3 has no move: its notifications see a
// delete of the source and a copy to the destination.
func moveEvents(src Object, moved db.Object) []outboxEvent {
	return []outboxEvent{
		{refType: EventObjectRemovedMove, s3Name: S3EventDelete, bucket: src.Bucket, name: src.Key, version: src.Version},
		{refType: EventObjectCreatedMove, s3Name: S3EventCopy, bucket: moved.BucketID, name: moved.Name, version: moved.Version,
			meta: moved.Metadata, oldObject: &eventObjectRef{Name: src.Key, BucketID: src.Bucket, Version: src.Version}},
	}
}
