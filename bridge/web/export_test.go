package web

import "net/http"

// WrapHandler wraps the server's whole handler, the one Handler returns and
// Run serves, e.g. to check every answer.
func WrapHandler(s *Server, wrap func(http.Handler) http.Handler) {
	s.handler = wrap(s.handler)
}

// RouteList returns the method and path of every route in the table.
func RouteList(s *Server) [][2]string {
	var out [][2]string
	for _, r := range s.routes {
		out = append(out, [2]string{r.Method, r.Path})
	}
	return out
}

// Since is the page's relative time, as in "in 5 h" or "3 min ago".
var Since = since

// Cells is the CSV export's guard against cells a spreadsheet would run.
var Cells = cells
