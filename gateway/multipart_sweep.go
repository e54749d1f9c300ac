package gateway

import (
	"context"

	"github.com/stowage/stowage/db"
)

// uploadSweepBatch bounds one upload-sweep transaction.
const uploadSweepBatch = 100

// SweepUploads aborts uploads started more than Options.UploadExpiry ago: their rows go in
// one transaction with delete intents for their part blobs, then the bytes are removed (the
// intent sweep finishes the job if that fails). Rows are taken with SKIP LOCKED, so many
// gateways may sweep at once, and an upload being completed right now (its row locked) is
// left for the next sweep. Resumable (TUS) uploads are left alone: they expire when their
// TUS row says, and SweepTusUploads removes them with their tail. It returns the number of
// uploads aborted.
func (e *Engine) SweepUploads(ctx context.Context) (int, error) {
	c := e.ServiceCaller("")
	aborted := 0
	for {
		var dropped []db.Upload
		var keys [][]string
		err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
			due, err := tx.ExpiredUploads(ctx, e.now().Add(-e.opts.UploadExpiry), uploadSweepBatch)
			if err != nil {
				return err
			}
			for _, u := range due {
				parts, err := tx.DeleteUpload(ctx, u.ID)
				if err != nil {
					return err
				}
				k := e.partBlobs(u, parts)
				if err := e.unlinkParts(ctx, tx, k); err != nil {
					return err
				}
				dropped, keys = append(dropped, u), append(keys, k)
			}
			return nil
		})
		if err != nil {
			return aborted, dbErr(err, CodeInternal, "", "")
		}
		for i, u := range dropped {
			e.dropUploadBytes(ctx, c, u, keys[i])
		}
		aborted += len(dropped)
		if len(dropped) < uploadSweepBatch {
			return aborted, nil
		}
	}
}
