package events

import (
	"context"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway"
)

// Purge is the target of automatic CDN purges: an object of a public bucket that is
// overwritten, copied or moved onto, removed or moved away has a stale copy in the CDN in
// front of Stowage, and Purge asks the purge service to forget it. As a target it consumes
// the outbox like any other: a purge is never lost (retried, dead-lettered, re-drivable)
// and never delays the write. The dispatcher routes to it only the events of PurgeEvent
// whose bucket is public when the event is routed (a bucket made private is purged whole
// by the bucket update itself).
type Purge struct {
	// Object purges one object (cdn.Purger, type "object"); Transforms, when set, purges
	// its rendered variants too (type "object-transforms").
	Object     func(ctx context.Context, bucket, name string) error
	Transforms func(ctx context.Context, bucket, name string) error
}

// Name is the purge target's name.
func (p *Purge) Name() string { return "cdn-purge" }

// Deliver purges the event's object (and its variants). Both purges are idempotent, so a
// retry after a half-done attempt repeats both.
func (p *Purge) Deliver(ctx context.Context, d db.Delivery) error {
	if err := p.Object(ctx, d.BucketID, d.Name); err != nil {
		return err
	}
	if p.Transforms != nil {
		return p.Transforms(ctx, d.BucketID, d.Name)
	}
	return nil
}

// PurgeEvent reports whether an event of type typ leaves a stale object in a CDN: every
// change to an existing key's bytes or its removal. A new key (ObjectCreated:Post) has
// nothing cached, and metadata updates (tags) do not change what is served.
func PurgeEvent(typ string) bool {
	switch typ {
	case gateway.EventObjectCreatedPut, gateway.EventObjectCreatedCopy, gateway.EventObjectCreatedMove,
		gateway.EventObjectRemovedDelete, gateway.EventObjectRemovedMove:
		return true
	}
	return false
}
