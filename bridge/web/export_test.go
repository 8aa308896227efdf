package web

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
