package nukiweb

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// maxUserPages stops paging GET /account/user if a server never sends a
// short page.
const maxUserPages = 10_000

// Fetch reads the account in 2 + n requests: GET /smartlock,
// GET /smartlock/auth?types=0 and GET /account/user page by page until a
// short page. Only app authorizations of account users are kept. Calls counts
// every HTTP request made, retries included. On error the Snapshot is empty.
func (c *Client) Fetch(ctx context.Context) (bridge.Snapshot, error) {
	var snap bridge.Snapshot

	var locks []wireLock
	n, err := c.do(ctx, call{Method: http.MethodGet, Op: "GET /smartlock", Path: "/smartlock", Out: &locks})
	snap.Calls += n
	if err != nil {
		return bridge.Snapshot{Calls: snap.Calls}, err
	}
	snap.Locks = make([]bridge.Lock, len(locks))
	for i, l := range locks {
		snap.Locks[i] = l.lock()
	}

	var auths []wireAuth
	n, err = c.do(ctx, call{Method: http.MethodGet, Op: "GET /smartlock/auth", Path: "/smartlock/auth",
		Query: url.Values{"types": {strconv.Itoa(bridge.AuthTypeApp)}}, Out: &auths})
	snap.Calls += n
	if err != nil {
		return bridge.Snapshot{Calls: snap.Calls}, err
	}
	snap.Auths = make([]bridge.Auth, 0, len(auths))
	for i := range auths {
		w := &auths[i]
		if w.Type != bridge.AuthTypeApp || w.AccountUserID == 0 {
			continue
		}
		a, err := w.auth()
		if err != nil {
			return bridge.Snapshot{Calls: snap.Calls}, &bridge.NukiError{Kind: bridge.ErrNukiRejected,
				Op: "GET /smartlock/auth", Status: http.StatusOK, Description: "unreadable answer", Err: err}
		}
		snap.Auths = append(snap.Auths, a)
	}

	size := c.opts.PageSize
	for page := 0; page < maxUserPages; page++ {
		var users []wireUser
		n, err = c.do(ctx, call{Method: http.MethodGet, Op: "GET /account/user", Path: "/account/user",
			Query: url.Values{"offset": {strconv.Itoa(page * size)}, "limit": {strconv.Itoa(size)}}, Out: &users})
		snap.Calls += n
		if err != nil {
			return bridge.Snapshot{Calls: snap.Calls}, err
		}
		for _, u := range users {
			snap.Users = append(snap.Users, u.user())
		}
		if len(users) < size {
			break
		}
	}
	return snap, nil
}

// FindUser returns the account user with that email (GET
// /account/user?email=…). No such user: an error matching bridge.ErrNotFound.
func (c *Client) FindUser(ctx context.Context, email string) (bridge.User, error) {
	var users []wireUser
	if _, err := c.do(ctx, call{Method: http.MethodGet, Op: "GET /account/user", Path: "/account/user",
		Query: url.Values{"email": {email}}, Out: &users}); err != nil {
		return bridge.User{}, err
	}
	for _, u := range users {
		if strings.EqualFold(u.Email, email) {
			return u.user(), nil
		}
	}
	return bridge.User{}, fmt.Errorf("account user: %w", bridge.ErrNotFound)
}

// FindAuth returns the app authorization of a user on a lock in one request
// (GET /smartlock/auth?accountUserId=…&types=0). None: an error matching
// bridge.ErrNotFound.
func (c *Client) FindAuth(ctx context.Context, smartlockID, accountUserID int64) (bridge.Auth, error) {
	var auths []wireAuth
	if _, err := c.do(ctx, call{Method: http.MethodGet, Op: "GET /smartlock/auth", Path: "/smartlock/auth",
		Query: url.Values{"accountUserId": {strconv.FormatInt(accountUserID, 10)}, "types": {strconv.Itoa(bridge.AuthTypeApp)}},
		Out:   &auths}); err != nil {
		return bridge.Auth{}, err
	}
	for i := range auths {
		w := &auths[i]
		if w.SmartlockID != smartlockID || w.AccountUserID != accountUserID || w.Type != bridge.AuthTypeApp {
			continue
		}
		a, err := w.auth()
		if err != nil {
			return bridge.Auth{}, &bridge.NukiError{Kind: bridge.ErrNukiRejected, Op: "GET /smartlock/auth",
				Status: http.StatusOK, Description: "unreadable answer", Err: err}
		}
		return a, nil
	}
	return bridge.Auth{}, fmt.Errorf("app authorization of user %d on lock %d: %w", accountUserID, smartlockID, bridge.ErrNotFound)
}

// CreateUser creates an account user (PUT /account/user). An email that
// already exists fails with a *bridge.NukiError of Kind ErrNukiRejected and
// Status 409; the caller then uses FindUser.
func (c *Client) CreateUser(ctx context.Context, u bridge.NewUser) (bridge.User, error) {
	var out wireUser
	if _, err := c.do(ctx, call{Method: http.MethodPut, Op: "PUT /account/user", Path: "/account/user",
		Body: wireUserCreate{Email: u.Email, Name: u.Name, Language: u.Language}, Out: &out}); err != nil {
		return bridge.User{}, err
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
func (c *Client) CreateAuth(ctx context.Context, smartlockID int64, g bridge.Grant) error {
	body := wireAuthCreate{
		Name: g.Name, AccountUserID: g.AccountUserID, RemoteAllowed: g.RemoteAllowed, Type: bridge.AuthTypeApp,
		AllowedFromDate: formatDate(g.Access.From), AllowedUntilDate: formatDate(g.Access.Until),
		AllowedWeekDays: g.Access.WeekDays, AllowedFromTime: g.Access.FromTime, AllowedUntilTime: g.Access.UntilTime,
	}
	_, err := c.do(ctx, call{Method: http.MethodPut, Op: "PUT /smartlock/{smartlockId}/auth",
		Path: "/smartlock/" + strconv.FormatInt(smartlockID, 10) + "/auth", Body: body})
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

// DeleteAuth deletes one authorization by its string id
// (DELETE /smartlock/{smartlockId}/auth/{id}). An unknown id fails with an
// error matching both bridge.ErrNukiRejected and bridge.ErrNotFound.
func (c *Client) DeleteAuth(ctx context.Context, smartlockID int64, authID string) error {
	if authID == "" {
		return fmt.Errorf("delete authorization: empty id: %w", bridge.ErrInvalid)
	}
	_, err := c.do(ctx, call{Method: http.MethodDelete, Op: "DELETE /smartlock/{smartlockId}/auth/{id}",
		Path: "/smartlock/" + strconv.FormatInt(smartlockID, 10) + "/auth/" + url.PathEscape(authID)})
	return err
}
