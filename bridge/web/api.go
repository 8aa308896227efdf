package web

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/nuki-invites/nuki-invites/bridge"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// inviteID reads and checks the {id} path value.
func inviteID(r *http.Request) (bridge.InviteID, error) {
	id := r.PathValue("id")
	if _, _, err := bridge.ParseInviteID(id); err != nil {
		return "", fmt.Errorf("%w: %s is not an invitation id (expected <smartlock_id>-<account_user_id>, or <smartlock_id>-k<n> for a keypad code)", bridge.ErrInvalid, clip(id))
	}
	return bridge.InviteID(id), nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "stopping"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, InvitationList{Invitations: viewsOf(s.svc.Invitations(f))})
}

func (s *Server) getInvitation(w http.ResponseWriter, r *http.Request) {
	id, err := inviteID(r)
	if err == nil {
		var inv bridge.Invitation
		if inv, err = s.svc.Invitation(id); err == nil {
			writeJSON(w, http.StatusOK, viewOf(inv))
			return
		}
	}
	s.fail(w, r, err)
}

// createInvitations creates an invitation (or a keypad code) per lock. When Nuki Web refuses
// some locks, the answer is the problem with, as its invitations member,
// everything the create made: the refused ones stay as failed and are
// retried, as the MQTT create answers ok false with their invite_ids.
func (s *Server) createInvitations(w http.ResponseWriter, r *http.Request) {
	var req bridge.CreateRequest
	if p := decodeJSON(w, r, &req, createLimits, false); p != nil {
		writeProblem(w, *p)
		return
	}
	req.Actor = actorOf(r)
	created, err := s.svc.Create(r.Context(), req)
	if err != nil {
		p := s.createProblem(r, err, created)
		if len(created) > 0 {
			p.Invitations = viewsOf(created)
		}
		writeProblem(w, withoutCode(p, req.Code))
		return
	}
	writeJSON(w, http.StatusCreated, InvitationList{Invitations: viewsOf(created)})
}

func (s *Server) resendInvitation(w http.ResponseWriter, r *http.Request) {
	id, err := inviteID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body resendBody
	if p := decodeJSON(w, r, &body, resendLimits, true); p != nil {
		writeProblem(w, *p)
		return
	}
	if body.Delivery != "" && !body.Delivery.Valid() {
		badRequest(w, `delivery must be "nuki" or "custom"`)
		return
	}
	inv, err := s.svc.Resend(r.Context(), id, bridge.ResendOptions{Delivery: body.Delivery, Force: body.Force, Actor: actorOf(r)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(inv))
}

func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request) {
	id, err := inviteID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inv, err := s.svc.Revoke(r.Context(), id, actorOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(inv))
}

func (s *Server) revealCode(w http.ResponseWriter, r *http.Request) {
	id, err := inviteID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	code, err := s.svc.RevealCode(r.Context(), id, actorOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Code{InviteID: code.InviteID, Code: code.Code.Reveal(), ExpiresAt: code.ExpiresAt})
}

// sync asks for a sync and answers at once with the state as it stands, as
// the MQTT sync command does; the event stream brings the outcome.
func (s *Server) sync(w http.ResponseWriter, r *http.Request) {
	s.svc.RequestSync()
	writeJSON(w, http.StatusAccepted, stateOf(s.svc.SyncState()))
}

// confirmSync carries out a held sync: the user has checked that the
// invitations it would revoke are really gone from Nuki Web.
func (s *Server) confirmSync(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.ConfirmHeldSync(); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("held sync confirmed", "actor", actorOf(r))
	writeJSON(w, http.StatusAccepted, stateOf(s.svc.SyncState()))
}

func (s *Server) listLocks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, LockList{Locks: locksOf(s.svc.Locks())})
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, stateOf(s.svc.SyncState()))
}
