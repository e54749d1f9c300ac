package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/stowage/stowage/db"
)

// IdempotencyHeader carries the event's id on every delivery attempt: retries and
// duplicates of one event carry the same value.
const IdempotencyHeader = "Idempotency-Key"

// maxErrorBody bounds what is read of a failing receiver's answer.
const maxErrorBody = 512

// Webhook posts the reference server's webhook body to URL (WEBHOOK_URL), with APIKey as
// Bearer token (WEBHOOK_API_KEY).
type Webhook struct {
	URL    string
	APIKey string
	Client *HTTPClient // with the request timeout
	Now    func() time.Time
}

// Name is the webhook's target name.
func (w *Webhook) Name() string { return "webhook" }

// Deliver posts {"type":"Webhook","event":…,"sentAt":…,"tenant":…} as the reference does.
func (w *Webhook) Deliver(ctx context.Context, d db.Delivery) error {
	tenant := eventTenant(d.Body)
	// Both parts are JSON from the outbox's jsonb column: appended, not re-encoded.
	body := make([]byte, 0, len(d.Body)+len(tenant)+80)
	body = append(body, `{"type":"Webhook","event":`...)
	body = append(body, d.Body...)
	body = append(body, `,"sentAt":"`...)
	body = now(w.Now).UTC().AppendFormat(body, "2006-01-02T15:04:05.000Z")
	body = append(body, `","tenant":`...)
	body = append(body, tenant...)
	body = append(body, '}')
	return w.Client.post(ctx, w.URL, w.APIKey, d, body)
}

// tenantParsers are fastjson parsers to reuse (a Parser is not safe for concurrent use).
var tenantParsers fastjson.ParserPool

// eventTenant returns the event body's payload.tenant as JSON ({} when it has none), which
// the reference repeats at the top of the webhook body. encoding/json took a delivery's whole
// body apart for it (a quarter of what a delivery cost the gateway besides its POST); fastjson
// reads the tenant that Stowage writes ({"ref": …, "host": …}, strings of plain ASCII) in a
// fraction of that. Anything else (keys that only encoding/json's case-insensitive match
// finds, escapes, other types) takes encoding/json's way, as before.
func eventTenant(body []byte) []byte {
	if fastjson.ValidateBytes(body) != nil { // fastjson's parser lets through what encoding/json refuses
		return eventTenantStd(body)
	}
	p := tenantParsers.Get()
	defer tenantParsers.Put(p)
	if v, err := p.ParseBytes(body); err == nil {
		if t := onlyKey(onlyKey(v, "payload"), "tenant"); t != nil && plainStrings(t) {
			return t.MarshalTo(nil) // plain strings: its quoting is JSON's
		}
	}
	return eventTenantStd(body)
}

// onlyKey returns the value under key when v is an object in which no other key matches it
// case-insensitively and key occurs once (where encoding/json could pick another), else nil.
func onlyKey(v *fastjson.Value, key string) *fastjson.Value {
	if v == nil {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		return nil
	}
	var found *fastjson.Value
	n := 0
	o.Visit(func(k []byte, x *fastjson.Value) {
		if strings.EqualFold(string(k), key) {
			n++
			if string(k) == key {
				found = x
			}
		}
	})
	if n != 1 {
		return nil
	}
	return found
}

// plainStrings reports whether v is an object of string values that are printable ASCII
// without quotes or backslashes under keys that are the same.
func plainStrings(v *fastjson.Value) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	plain := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	}
	ok := true
	o.Visit(func(k []byte, x *fastjson.Value) {
		s, err := x.StringBytes()
		ok = ok && err == nil && plain(k) && plain(s)
	})
	return ok
}

// eventTenantStd is eventTenant with encoding/json.
func eventTenantStd(body []byte) []byte {
	var ev struct {
		Payload struct {
			Tenant json.RawMessage `json:"tenant"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(body, &ev)
	if len(ev.Payload.Tenant) == 0 {
		return []byte(`{}`)
	}
	return ev.Payload.Tenant
}

// S3Webhook posts S3 event notification records (as MinIO's webhook target does) to URL.
type S3Webhook struct {
	ARN    string // arn:minio:sqs::NAME:webhook
	URL    string
	Region string
	// AuthToken, when set, is sent as Authorization: Bearer <token>: the target's own
	// credential, as MinIO's auth_token of a webhook target (never WEBHOOK_API_KEY).
	AuthToken string
	Client    *HTTPClient
}

// Name is the target's ARN.
func (w *S3Webhook) Name() string { return w.ARN }

// Deliver posts {"EventName":…,"Key":…,"Records":[record]}.
func (w *S3Webhook) Deliver(ctx context.Context, d db.Delivery) error {
	body, err := json.Marshal(S3Notification(d, w.Region))
	if err != nil {
		return err
	}
	return w.Client.post(ctx, w.URL, w.AuthToken, d, body)
}

// S3Message is the body of an S3 notification delivery.
type S3Message struct {
	EventName string     `json:"EventName"`
	Key       string     `json:"Key"`
	Records   []S3Record `json:"Records"`
}

// S3Record is one S3 event record.
type S3Record struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      map[string]string `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseElements  map[string]string `json:"responseElements"`
	S3                S3Entity          `json:"s3"`
}

// S3Entity is a record's s3 member.
type S3Entity struct {
	SchemaVersion   string   `json:"s3SchemaVersion"`
	ConfigurationID string   `json:"configurationId"`
	Bucket          S3Bucket `json:"bucket"`
	Object          S3Object `json:"object"`
}

// S3Bucket names the bucket of a record.
type S3Bucket struct {
	Name          string            `json:"name"`
	OwnerIdentity map[string]string `json:"ownerIdentity"`
	ARN           string            `json:"arn"`
}

// S3Object is the object of a record; Key is URL-encoded as S3 does.
type S3Object struct {
	Key       string `json:"key"`
	Size      int64  `json:"size,omitempty"`
	ETag      string `json:"eTag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	Sequencer string `json:"sequencer"`
}

// S3Notification renders delivery d as an S3 notification message.
func S3Notification(d db.Delivery, region string) S3Message {
	var ev struct {
		Payload struct {
			ReqID string `json:"reqId"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(d.Body, &ev)
	rec := S3Record{EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: region,
		EventTime: d.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"), EventName: d.S3Name,
		UserIdentity: map[string]string{"principalId": ""}, RequestParameters: map[string]string{"sourceIPAddress": ""},
		ResponseElements: map[string]string{"x-amz-request-id": ev.Payload.ReqID},
		S3: S3Entity{SchemaVersion: "1.0", ConfigurationID: d.ConfigID,
			Bucket: S3Bucket{Name: d.BucketID, OwnerIdentity: map[string]string{"principalId": ""}, ARN: "arn:aws:s3:::" + d.BucketID},
			// The sequencer orders events of one key: the outbox id, fixed-width hex.
			Object: S3Object{Key: EncodeKey(d.Name), Size: d.Size, ETag: strings.Trim(d.ETag, `"`), Sequencer: fmt.Sprintf("%016X", d.ID)}}}
	return S3Message{EventName: "s3:" + d.S3Name, Key: d.BucketID + "/" + d.Name, Records: []S3Record{rec}}
}

// EncodeKey URL-encodes a key as S3 notifications do: form encoding (space as '+'),
// slashes kept.
func EncodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// Notify sends a Postgres NOTIFY on Channel per event, with a small JSON payload: the
// event's id (to fetch the full event from stowage.events), type, bucket and name.
type Notify struct {
	DB      *db.DB
	Channel string
}

// Name is the NOTIFY target's name.
func (n *Notify) Name() string { return "notify" }

// maxNotifyName keeps the payload under Postgres's 8000-byte NOTIFY limit.
const maxNotifyName = 4000

// Deliver notifies.
func (n *Notify) Deliver(ctx context.Context, d db.Delivery) error {
	name := d.Name
	if len(name) > maxNotifyName {
		name = "" // fetch the event by id
	}
	p, _ := json.Marshal(map[string]any{"id": d.EventID, "seq": d.ID, "type": d.Type, "bucketId": d.BucketID, "name": name})
	return n.DB.Notify(ctx, n.Channel, string(p))
}

func now(f func() time.Time) time.Time {
	if f == nil {
		return time.Now()
	}
	return f()
}
