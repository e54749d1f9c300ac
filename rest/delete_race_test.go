package rest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
)

// TestDeleteRacesRecreate: DELETE /object/{bucket}/{key} racing uploads that re-create
// the key answers 200, NoSuchKey or (out of serialization retries) 544, never AccessDenied, for the service role (whom RLS never
// refuses): the refusal check must not see a row created after the delete ran.
func TestDeleteRacesRecreate(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("race", nil)
	const rounds = 200
	var wg sync.WaitGroup
	errs := make(chan string, 2*rounds)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range rounds {
			r := f.do("POST", "/object/race/k.txt", f.service, fmt.Sprint(i), "Content-Type", "text/plain", "x-upsert", "true")
			if r.status != 200 {
				errs <- fmt.Sprintf("upload %d: %d %s", i, r.status, r.body)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range rounds {
			r := f.do("DELETE", "/object/race/k.txt", f.service, nil)
			if r.status == 200 {
				continue
			}
			var e struct{ StatusCode, Code string }
			if json.Unmarshal(r.body, &e) == nil && r.status == 544 && e.Code == "DatabaseTimeout" {
				// Retryable: the delete's snapshot lost every retry to the uploads (the
				// engine's bounded serialization retries); nothing was deleted.
				continue
			}
			if json.Unmarshal(r.body, &e) != nil || r.status != 400 || e.StatusCode != "404" || e.Code != "NoSuchKey" {
				errs <- fmt.Sprintf("delete %d: %d %s", i, r.status, r.body)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
