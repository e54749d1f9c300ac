package gateway

import (
	"encoding/json"
	"strings"
	"sync"
)

// RequestHeaders copies a request's headers (visitAll walks them, as fasthttp's
// RequestHeader.VisitAll does) and returns their JSON object for Caller.Headers, built on
// first use: lower-case names, a repeated name's last value, the names skip (given the
// lower-case name) refuses left out. Only a statement under the caller's own scope needs
// the object (request.headers, for RLS policies); a read by a role that bypasses RLS, the
// bulk of GETs with service credentials, never builds it. The copy is taken at once
// because the request's buffers are reused once its handler returns, and the scope may be
// used after that (work the request left behind).
func RequestHeaders(visitAll func(func(k, v []byte)), skip func(name string) bool) func() string {
	var buf []byte
	var ends []int // per header: end of its name, end of its value, in buf
	visitAll(func(k, v []byte) {
		buf = append(buf, k...)
		ends = append(ends, len(buf))
		buf = append(buf, v...)
		ends = append(ends, len(buf))
	})
	return sync.OnceValue(func() string {
		headers := make(map[string]string, len(ends)/2)
		start := 0
		for i := 0; i < len(ends); i += 2 {
			name := strings.ToLower(string(buf[start:ends[i]]))
			if skip == nil || !skip(name) {
				headers[name] = string(buf[ends[i]:ends[i+1]])
			}
			start = ends[i+1]
		}
		j, _ := json.Marshal(headers)
		return string(j)
	})
}
