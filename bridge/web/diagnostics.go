package web

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// diagnostics sends the diagnostics bundle as a download. The bundle is
// written to memory first, so a failure is answered as a problem rather
// than as half a file.
func (s *Server) diagnostics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Diagnostics == nil {
		s.fail(w, r, fmt.Errorf("%w: this server offers no diagnostics", bridge.ErrNotFound))
		return
	}
	var buf bytes.Buffer
	if err := s.opts.Diagnostics(&buf); err != nil {
		s.fail(w, r, fmt.Errorf("diagnostics: %w", err))
		return
	}
	name := "nuki-invites-diagnostics-" + s.now().UTC().Format("20060102-150405") + ".json"
	s.log.Info("diagnostics downloaded", "actor", actorOf(r), "bytes", buf.Len())
	attachment(w, "application/json", name)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}
