package nukiweb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// maxUserPages bounds the GET /account/user pages of one Fetch, so that a
// server that keeps sending users it has not sent before cannot keep the
// client busy for ever.
const maxUserPages = 200

// authTypes is the types filter of the sync's authorization listing: app
// authorizations and keypad codes.
var authTypes = strconv.Itoa(bridge.AuthTypeApp) + "," + strconv.Itoa(bridge.AuthTypeKeypadCode)

// Fetch reads the account in 2 + n requests: GET /smartlock (with each
// lock's keypad), GET /smartlock/auth?types=0,13 and GET /account/user page
// by page (see fetchUsers). Auths keeps the app authorizations of account
// users, KeypadCodes the keypad codes, each with its Code. Calls counts every
// HTTP request made, retries included. On error the Snapshot is empty but
// for Calls.
func (c *Client) Fetch(ctx context.Context) (bridge.Snapshot, error) {
	var snap bridge.Snapshot

	n, err := c.do(ctx, call{Method: http.MethodGet, Op: "GET /smartlock", Path: "/smartlock",
		Stream: list(&snap.Locks, 0, func(w *wireLock) (bridge.Lock, bool, error) { return w.lock(), true, nil })})
	snap.Calls += n
	if err != nil {
		return bridge.Snapshot{Calls: snap.Calls}, err
	}

	var auths []bridge.Auth
	n, err = c.do(ctx, call{Method: http.MethodGet, Op: "GET /smartlock/auth", Path: "/smartlock/auth",
		Query: url.Values{"types": {authTypes}},
		Stream: list(&auths, int(c.authCount.Load()), func(w *wireAuth) (bridge.Auth, bool, error) {
			switch {
			case w.Type == bridge.AuthTypeApp && w.AccountUserID != 0, w.Type == bridge.AuthTypeKeypadCode:
				a, err := w.auth()
				return a, true, err
			}
			return bridge.Auth{}, false, nil
		})})
	snap.Calls += n
	if err != nil {
		return bridge.Snapshot{Calls: snap.Calls}, err
	}
	c.authCount.Store(int64(len(auths)))
	// The app authorizations keep the listing's slice (they are nearly all
	// of it), moved down over the few keypad codes, which are copied out.
	app := auths[:0]
	for _, a := range auths {
		if a.Type == bridge.AuthTypeKeypadCode {
			snap.KeypadCodes = append(snap.KeypadCodes, a)
		} else {
			app = append(app, a)
		}
	}
	clear(auths[len(app):])
	snap.Auths = app

	snap.Users, n, err = c.fetchUsers(ctx)
	snap.Calls += n
	if err != nil {
		return bridge.Snapshot{Calls: snap.Calls}, err
	}
	return snap, nil
}

// fetchUsers lists the account users, each once, and returns the number of
// HTTP requests made. Nuki's docs say the API has no pagination while the
// spec gives GET /account/user an offset and a limit, so the listing trusts
// neither: each page starts after the users received so far, and it ends on a
// page that is empty, shorter than the limit or brings no user not already
// seen. After maxUserPages pages that all brought new users it fails with a
// *bridge.NukiError of Kind ErrNukiRejected.
func (c *Client) fetchUsers(ctx context.Context) (users []bridge.User, requests int, err error) {
	const op = "GET /account/user"
	size := c.opts.PageSize
	seen := make(map[int64]bool)
	offset := 0
	var page []bridge.User
	for range maxUserPages {
		n, err := c.do(ctx, call{Method: http.MethodGet, Op: op, Path: "/account/user",
			Query:  url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(size)}},
			Stream: list(&page, 0, func(w *wireUser) (bridge.User, bool, error) { return w.user(), true, nil })})
		requests += n
		if err != nil {
			return nil, requests, err
		}
		fresh := 0
		for _, u := range page {
			if seen[u.ID] {
				continue
			}
			seen[u.ID] = true
			users = append(users, u)
			fresh++
		}
		if len(page) < size || fresh == 0 {
			return users, requests, nil
		}
		offset += len(page)
	}
	return nil, requests, &bridge.NukiError{Kind: bridge.ErrNukiRejected, Op: op, Status: http.StatusOK,
		Description: fmt.Sprintf("Nuki kept sending new users past %d pages (%d users); listing abandoned",
			maxUserPages, len(users))}
}

// FindUser returns the account user with that email (GET
// /account/user?email=…). No such user: an error matching bridge.ErrNotFound.
func (c *Client) FindUser(ctx context.Context, email string) (bridge.User, error) {
	var users []bridge.User
	if _, err := c.do(ctx, call{Method: http.MethodGet, Op: "GET /account/user", Path: "/account/user",
		Query: url.Values{"email": {email}},
		Stream: list(&users, 0, func(w *wireUser) (bridge.User, bool, error) {
			return w.user(), strings.EqualFold(w.Email, email), nil
		})}); err != nil {
		return bridge.User{}, err
	}
	if len(users) > 0 {
		return users[0], nil
	}
	return bridge.User{}, fmt.Errorf("account user: %w", bridge.ErrNotFound)
}

// FindAuth returns the app authorization of a user on a lock in one request
// (GET /smartlock/auth?accountUserId=…&types=0). None: an error matching
// bridge.ErrNotFound.
func (c *Client) FindAuth(ctx context.Context, smartlockID, accountUserID int64) (bridge.Auth, error) {
	var auths []bridge.Auth
	if _, err := c.do(ctx, call{Method: http.MethodGet, Op: "GET /smartlock/auth", Path: "/smartlock/auth",
		Query: url.Values{"accountUserId": {strconv.FormatInt(accountUserID, 10)}, "types": {strconv.Itoa(bridge.AuthTypeApp)}},
		Stream: list(&auths, 0, func(w *wireAuth) (bridge.Auth, bool, error) {
			if w.SmartlockID != smartlockID || w.AccountUserID != accountUserID || w.Type != bridge.AuthTypeApp {
				return bridge.Auth{}, false, nil
			}
			a, err := w.auth()
			return a, true, err
		})}); err != nil {
		return bridge.Auth{}, err
	}
	if len(auths) > 0 {
		return auths[0], nil
	}
	return bridge.Auth{}, fmt.Errorf("app authorization of user %d on lock %d: %w", accountUserID, smartlockID, bridge.ErrNotFound)
}

// CreateUser creates an account user (PUT /account/user) and returns it.
// What Nuki answers for an email that already exists is not documented (the
// spec declares only 200 and 400; 409 is seen too), so when Nuki rejects the
// create (Kind ErrNukiRejected, whatever the status) CreateUser looks the
// email up with FindUser and returns the existing user, with a nil error.
// When no user has that email, or the lookup fails, the create's own
// *bridge.NukiError comes back.
func (c *Client) CreateUser(ctx context.Context, u bridge.NewUser) (bridge.User, error) {
	var out wireUser
	if _, err := c.do(ctx, call{Method: http.MethodPut, Op: "PUT /account/user", Path: "/account/user",
		Body: wireUserCreate{Email: u.Email, Name: u.Name, Language: u.Language}, Out: &out}); err != nil {
		if !errors.Is(err, bridge.ErrNukiRejected) {
			return bridge.User{}, err
		}
		existing, ferr := c.FindUser(ctx, u.Email)
		if ferr != nil {
			if !errors.Is(ferr, bridge.ErrNotFound) {
				c.log.Warn("looking up a user after a refused create failed", "err", ferr)
			}
			return bridge.User{}, err
		}
		c.log.Debug("account user exists already", "account_user_id", existing.ID)
		return existing, nil
	}
	if out.AccountUserID == 0 {
		return bridge.User{}, &bridge.NukiError{Kind: bridge.ErrNukiRejected, Op: "PUT /account/user",
			Status: http.StatusOK, Description: "answer without accountUserId"}
	}
	return out.user(), nil
}

// CreateAuth creates an app authorization for g.AccountUserID on one lock
// (PUT /smartlock/{smartlockId}/auth, 204); Nuki emails the user an invite
// code. Nuki answers once the request is validated, not once the lock has it.
// A lock that is not the account's fails with an error matching
// bridge.ErrNukiLockDenied; a second authorization for the same user and lock
// with one matching bridge.ErrConflict.
func (c *Client) CreateAuth(ctx context.Context, smartlockID int64, g bridge.Grant) error {
	body := wireAuthCreate{
		Name: g.Name, AccountUserID: g.AccountUserID, RemoteAllowed: g.RemoteAllowed, Type: bridge.AuthTypeApp,
		AllowedFromDate: formatDate(g.Access.From), AllowedUntilDate: formatDate(g.Access.Until),
		AllowedWeekDays: g.Access.WeekDays, AllowedFromTime: g.Access.FromTime, AllowedUntilTime: g.Access.UntilTime,
	}
	_, err := c.do(ctx, call{Method: http.MethodPut, Op: "PUT /smartlock/{smartlockId}/auth",
		Path: lockPath(smartlockID, "/auth"), Body: body, OneLock: true})
	return err
}

// CreateAdvancedAuth asks for app authorizations on several locks without
// Nuki's email (PUT /smartlock/auth/advanced) and returns the request id the
// outcome webhook will carry. When Nuki's answer lists locks that need a
// subscription, the error is a *bridge.NukiError of Kind ErrNukiRejected with
// Nuki's text, and requestID is still returned if Nuki gave one (the other
// locks were accepted).
func (c *Client) CreateAdvancedAuth(ctx context.Context, smartlockIDs []int64, g bridge.Grant) (string, error) {
	const op = "PUT /smartlock/auth/advanced"
	body := wireAdvancedCreate{
		Name: g.Name, AccountUserID: g.AccountUserID, RemoteAllowed: g.RemoteAllowed, SmartlockIDs: smartlockIDs,
		AllowedFromDate: formatDate(g.Access.From), AllowedUntilDate: formatDate(g.Access.Until),
		AllowedWeekDays: g.Access.WeekDays, AllowedFromTime: g.Access.FromTime, AllowedUntilTime: g.Access.UntilTime,
	}
	var out wireAdvancedAnswer
	if _, err := c.do(ctx, call{Method: http.MethodPut, Op: op, Path: "/smartlock/auth/advanced",
		Body: body, Out: &out}); err != nil {
		return "", err
	}
	if out.Error != "" {
		return out.RequestID, &bridge.NukiError{Kind: bridge.ErrNukiRejected, Op: op, Status: http.StatusOK,
			Description: cleanDescription(out.Error)}
	}
	if out.RequestID == "" {
		return "", &bridge.NukiError{Kind: bridge.ErrNukiRejected, Op: op, Status: http.StatusOK,
			Description: "answer without requestId"}
	}
	return out.RequestID, nil
}

// CreateKeypadCode creates the keypad code k.Code on one lock
// (PUT /smartlock/{smartlockId}/auth) or on several at once
// (PUT /smartlock/auth, all or nothing), as an authorization of type 13 with
// k's name and access window. Nuki answers 204 once the request is
// validated; the code is listed (Fetch, FindKeypadCode) only once the lock
// has it, and Nuki's answer carries no id.
//
// Nuki's refusals come back as a *bridge.NukiError of Kind ErrNukiRejected
// with Nuki's own words in Description and the core's error in Reason:
// ErrInvalid (400) for a lock without a keypad or a code Nuki does not take
// (not six digits 1 to 9, starting with 12, …), a missing name;
// ErrConflict (409) for a code the lock has already and a lock with 200
// authorizations. A 403 (a lock that is not the account's) gives
// ErrNukiLockDenied. The client checks only that it can send the code as
// the integer Nuki takes (digits, no leading 0), else an error matching
// bridge.ErrInvalid and no request; bridge.CheckKeypadCode is Nuki's rule,
// to check before. Like
// every write, a create whose answer was lost is not repeated: an error of
// Kind ErrNukiUnavailable means the code may or may not have been created.
// Errors never contain the code: any number in Nuki's text that could be
// one is replaced by "[code]".
func (c *Client) CreateKeypadCode(ctx context.Context, smartlockIDs []int64, k bridge.KeypadGrant) error {
	if len(smartlockIDs) == 0 {
		return fmt.Errorf("create keypad code: no lock: %w", bridge.ErrInvalid)
	}
	// Nuki takes the code as an integer: one that does not read back the same
	// (a sign, a leading 0) would be another code.
	code, err := strconv.ParseInt(k.Code.Reveal(), 10, 32)
	if err != nil || code <= 0 || strconv.FormatInt(code, 10) != k.Code.Reveal() {
		return fmt.Errorf("create keypad code: the code is not a number Nuki can take: %w", bridge.ErrInvalid)
	}
	body := wireKeypadCreate{
		Name: k.Name, Type: bridge.AuthTypeKeypadCode, Code: code,
		AllowedFromDate: formatDate(k.Access.From), AllowedUntilDate: formatDate(k.Access.Until),
		AllowedWeekDays: k.Access.WeekDays, AllowedFromTime: k.Access.FromTime, AllowedUntilTime: k.Access.UntilTime,
	}
	cl := call{Method: http.MethodPut, Op: "PUT /smartlock/{smartlockId}/auth", Path: lockPath(smartlockIDs[0], "/auth"),
		OneLock: true}
	if len(smartlockIDs) > 1 {
		body.SmartlockIDs = smartlockIDs
		cl = call{Method: http.MethodPut, Op: "PUT /smartlock/auth", Path: "/smartlock/auth", OneLock: true}
	}
	cl.Body = body
	_, err = c.do(ctx, cl)
	var ne *bridge.NukiError
	if errors.As(err, &ne) {
		ne.Description = redactCode(ne.Description, k.Code.Reveal())
	}
	return err
}

// FindKeypadCode returns the keypad code with that code on a lock as Nuki
// lists it (GET /smartlock/{smartlockId}/auth?types=13), for an action that
// must not wait for the next sync. None (or not yet on the lock): an error
// matching bridge.ErrNotFound; a lock that is not the account's: one
// matching bridge.ErrNukiLockDenied.
func (c *Client) FindKeypadCode(ctx context.Context, smartlockID int64, code bridge.Secret) (bridge.Auth, error) {
	var found []bridge.Auth
	if _, err := c.do(ctx, call{Method: http.MethodGet, Op: "GET /smartlock/{smartlockId}/auth",
		Path: lockPath(smartlockID, "/auth"), Query: url.Values{"types": {strconv.Itoa(bridge.AuthTypeKeypadCode)}},
		OneLock: true,
		Stream: list(&found, 0, func(w *wireAuth) (bridge.Auth, bool, error) {
			if w.Type != bridge.AuthTypeKeypadCode || w.SmartlockID != smartlockID || string(w.Code) != code.Reveal() {
				return bridge.Auth{}, false, nil
			}
			a, err := w.auth()
			return a, true, err
		})}); err != nil {
		return bridge.Auth{}, err
	}
	if len(found) > 0 {
		return found[0], nil
	}
	return bridge.Auth{}, fmt.Errorf("keypad code on lock %d: %w", smartlockID, bridge.ErrNotFound)
}

// DeleteAuth deletes one authorization by its string id
// (DELETE /smartlock/{smartlockId}/auth/{id}). An unknown id fails with an
// error matching both bridge.ErrNukiRejected and bridge.ErrNotFound; an
// authorization still busy with an earlier change, after the retries, one
// matching bridge.ErrBusy.
func (c *Client) DeleteAuth(ctx context.Context, smartlockID int64, authID string) error {
	if authID == "" {
		return fmt.Errorf("delete authorization: empty id: %w", bridge.ErrInvalid)
	}
	_, err := c.do(ctx, call{Method: http.MethodDelete, Op: "DELETE /smartlock/{smartlockId}/auth/{id}",
		Path: lockPath(smartlockID, "/auth/"+url.PathEscape(authID)), OneLock: true})
	return err
}

// SyncLock asks Nuki Web to sync one lock now
// (POST /smartlock/{smartlockId}/sync, 204). Nuki answers once the request is
// accepted, not once the lock has synced. A lock that is not the account's
// fails with an error matching bridge.ErrNukiLockDenied.
func (c *Client) SyncLock(ctx context.Context, smartlockID int64) error {
	_, err := c.do(ctx, call{Method: http.MethodPost, Op: "POST /smartlock/{smartlockId}/sync",
		Path: lockPath(smartlockID, "/sync"), OneLock: true, Repeatable: true})
	return err
}

// lockPath is the path of one lock's endpoint: /smartlock/{smartlockId}rest.
func lockPath(smartlockID int64, rest string) string {
	return "/smartlock/" + strconv.FormatInt(smartlockID, 10) + rest
}

// Paging of GET /smartlock/log: the spec caps limit at 50 and answers newest
// first.
const (
	logPageSize = 50
	maxLogPages = 10
)

// ActivityLog returns the activity log entries of all locks dated after
// since, oldest first, each once (GET /smartlock/log?fromDate=…&limit=50).
// One request suffices while fewer than 50 entries are new; when a page is
// full and its oldest entry is still after since, the next request asks for
// the entries older than that one (id=…), up to 10 pages. Past them,
// truncated is true and the entries are the newest ones. With a zero since
// only the first page is read, and truncated says it was full.
func (c *Client) ActivityLog(ctx context.Context, since time.Time) ([]bridge.LogEntry, bool, error) {
	const op = "GET /smartlock/log"
	q := url.Values{"limit": {strconv.Itoa(logPageSize)}}
	if !since.IsZero() {
		q.Set("fromDate", since.UTC().Format(time.RFC3339))
	}
	var newestFirst []bridge.LogEntry
	seen := make(map[string]bool)
	for page := 0; ; page++ {
		var wire []wireLogEntry
		if _, err := c.do(ctx, call{Method: http.MethodGet, Op: op, Path: "/smartlock/log", Query: q, Out: &wire}); err != nil {
			return nil, false, err
		}
		var oldest bridge.LogEntry
		fresh := 0
		for i, w := range wire {
			e, err := w.entry()
			if err != nil {
				return nil, false, &bridge.NukiError{Kind: bridge.ErrNukiRejected, Op: op, Status: http.StatusOK,
					Description: "unreadable answer", Err: err}
			}
			if i == 0 || !e.Date.After(oldest.Date) {
				oldest = e
			}
			if seen[e.ID] || !since.IsZero() && !e.Date.After(since) {
				continue
			}
			seen[e.ID] = true
			newestFirst = append(newestFirst, e)
			fresh++
		}
		full := len(wire) >= logPageSize
		switch {
		case !full:
			return oldestFirst(newestFirst), false, nil
		case since.IsZero():
			return oldestFirst(newestFirst), true, nil
		case !oldest.Date.After(since):
			return oldestFirst(newestFirst), false, nil
		case fresh == 0 || oldest.ID == "" || page+1 >= maxLogPages:
			// Nuki sent nothing new, or gave no id to page on, or the
			// cap is reached: older entries may be missing.
			return oldestFirst(newestFirst), true, nil
		}
		q.Set("id", oldest.ID)
	}
}

// oldestFirst turns entries gathered newest first into date order, oldest
// first; entries of the same date keep their relative age.
func oldestFirst(entries []bridge.LogEntry) []bridge.LogEntry {
	slices.Reverse(entries)
	slices.SortStableFunc(entries, func(a, b bridge.LogEntry) int { return a.Date.Compare(b.Date) })
	return entries
}
