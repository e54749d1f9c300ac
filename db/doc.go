// Package db is Stowage's only door to Postgres: the pgx pool, the queries behind every
// engine operation, transactions scoped to the caller's role and claims so that row
// level security decides, and the embedded migrations (Migrate).
//
// Its contract with the engine:
//   - The schema is the Supabase storage schema (spec/schema.md) and stays compatible with
//     the reference server: both may serve the same database.
//   - A visible object never points at missing bytes: rows are swapped to new blob keys in
//     short transactions, and keys about to be written or no longer referenced are
//     recorded in stowage.blob_intents so a sweeper can remove leftovers.
//   - Errors are db's own sentinels or wrapped pgx errors, classified by SQLSTATE.
//
// db imports nothing of ours outside db/ (its SQL lives in db/migrations). Tests get a
// fresh migrated database from db/pgtest.
package db
