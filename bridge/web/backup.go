package web

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// backup copies the database to a temporary file first, so a slow client
// never holds the store's read transaction open, then sends that file.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	if s.opts.Backup == nil {
		s.fail(w, r, fmt.Errorf("%w: this server offers no backups", bridge.ErrDisabled))
		return
	}
	dir, err := os.MkdirTemp("", "nuki-invites-backup-")
	if err != nil {
		s.fail(w, r, fmt.Errorf("backup: %w", err))
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "nuki-invites.db")
	if err := s.opts.Backup(path); err != nil {
		s.fail(w, r, fmt.Errorf("backup: %w", err))
		return
	}
	f, err := os.Open(path)
	if err != nil {
		s.fail(w, r, fmt.Errorf("backup: %w", err))
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		s.fail(w, r, fmt.Errorf("backup: %w", err))
		return
	}
	name := "nuki-invites-" + s.now().UTC().Format("20060102-150405") + ".db"
	s.log.Info("database backup downloaded", "actor", actorOf(r), "bytes", info.Size())
	attachment(w, "application/octet-stream", name)
	http.ServeContent(w, r, "", info.ModTime(), f)
}

// attachment sets the headers of a download named name, never cached.
func attachment(w http.ResponseWriter, contentType, name string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}
