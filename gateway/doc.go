// Package gateway is the object engine both dialects (S3 and Supabase REST) call. It owns
// every storage decision: names, limits, atomic swaps, and the typed errors dialects map.
//
// Contract: a visible object never points at missing bytes. Bytes are written under a fresh
// per-version key first (recorded as a write intent), the metadata row is inserted or swapped
// in one short transaction, and superseded bytes are removed only after that commit (recorded
// as a delete intent in the same transaction). A crash between any two steps leaves either the
// old or the new object visible; the sweep removes what the crash left behind.
//
// Every metadata statement runs in a transaction as the caller's Postgres role with the JWT
// claims set the way PostgREST does, so row level security policies decide; the engine reads
// bucket settings and commits rows after a successful RLS pre-flight as the service role,
// as the reference server does.
package gateway
