package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/phoneauth/phoneauth"
)

// A Store is a phoneauth.RouteStore: with its own Limiter and as its own
// Users, an Authenticator does the backend work of a code request in one
// statement and that of a sign-in verification in one function call
// (verify_challenge, migrations 3 and 4): one transaction per route.
var _ phoneauth.RouteStore = (*Store)(nil)

// Routes reports whether limiter is a Limiter of this Store's pool and
// schema and users is the Store itself: then IssueChallenge and
// VerifyChallenge can do their work in one transaction. It implements
// phoneauth.RouteStore.
func (s *Store) Routes(limiter phoneauth.Limiter, users phoneauth.Users) bool {
	lim, ok := limiter.(*Limiter)
	u, isStore := users.(*Store)
	return ok && isStore && u == s && lim.pool == s.pool && lim.q.allowAll == s.q.allowAll
}

// IssueChallenge applies the request's limits and stores its challenge,
// all or nothing, in one statement. It implements phoneauth.RouteStore.
func (s *Store) IssueChallenge(ctx context.Context, r phoneauth.IssueRoute) (refused int, retryAfter time.Duration, err error) {
	b, refused, retryAfter, err := newBatch(r.Checks)
	if err != nil || refused >= 0 {
		return refused, retryAfter, err
	}
	c := r.Challenge
	metadata, err := marshalMetadata(c.Metadata)
	if err != nil {
		return -1, 0, err
	}
	return b.result(s.pool.QueryRow(ctx, s.q.issueChallenge, b.keys, b.intervals, b.periods, r.Now.UnixNano(),
		c.Key, c.ID, c.Phone, c.UserID, string(c.Channel), c.CodeHash, c.Attempts, c.MaxAttempts,
		c.CreateUser, metadata, c.CreatedAt, c.ExpiresAt))
}

// VerifyChallenge checks a code and signs its user in, in one call of the
// function verify_challenge (one transaction). It implements
// phoneauth.RouteStore.
func (s *Store) VerifyChallenge(ctx context.Context, r phoneauth.VerifyRoute) (phoneauth.VerifyOutcome, error) {
	addr, refused, retry, err := newBatch(r.AddressChecks)
	switch {
	case err != nil:
		return phoneauth.VerifyOutcome{}, err
	case refused >= 0:
		return phoneauth.VerifyOutcome{Result: phoneauth.VerifyRefused, Refused: refused, RetryAfter: retry}, nil
	}
	var budgetInterval, budgetPeriod int64
	budgetKey := r.Budget.Key
	switch l := r.Budget.Limit; {
	case budgetKey == "" || l.Off():
		budgetKey = ""
	case l.Events <= 0:
		return phoneauth.VerifyOutcome{}, errZeroLimit
	default:
		budgetInterval, budgetPeriod = gcra(l)
	}
	credits, steps := make([]string, 0, len(r.Credits)), make([]int64, 0, len(r.Credits))
	for _, c := range r.Credits {
		if !c.Limit.Off() && c.Limit.Events > 0 {
			interval, _ := gcra(c.Limit)
			credits, steps = append(credits, c.Key), append(steps, interval)
		}
	}
	signup := 2
	switch r.Signup {
	case phoneauth.SignupAllowed:
		signup = 0
	case phoneauth.SignupWithCreateUser:
		signup = 1
	}
	userID := newID()
	ses, d := r.Session, r.Session.Device
	var (
		outcome string
		pos     int32
		retryNS int64
		out     phoneauth.VerifyOutcome
		cid     *string
		channel *string
		c       = &out.Challenge
		u       = &out.User

		phone, cUserID, uID, uPhone      *string
		attempts, maxAttempts            *int32
		createUser                       *bool
		createdAt, expiresAt, uCreatedAt *time.Time
	)
	err = s.pool.QueryRow(ctx, s.q.verifyChallenge,
		r.Key, r.ID, r.Now, r.Now.UnixNano(), addr.keys, addr.intervals, addr.periods,
		budgetKey, budgetInterval, budgetPeriod, r.CodeHashes, credits, steps,
		signup, userID, s.clock.Now(),
		ses.ID, d.ID, d.Type, d.Name, d.PlatformVersion, d.PushToken,
		ses.ExpiresAt, ses.RefreshHash, ses.RefreshExpiresAt,
	).Scan(&outcome, &pos, &retryNS, &cid, &phone, &cUserID, &channel, &attempts, &maxAttempts, &createUser,
		&c.Metadata, &createdAt, &expiresAt, &uID, &uPhone, &uCreatedAt)
	if err != nil {
		return phoneauth.VerifyOutcome{}, unavailable("verify challenge", err)
	}
	if cid != nil {
		*c = phoneauth.Challenge{Key: r.Key, ID: *cid, Phone: deref(phone), UserID: deref(cUserID),
			Channel: phoneauth.Channel(deref(channel)), Attempts: int(deref(attempts)), MaxAttempts: int(deref(maxAttempts)),
			CreateUser: deref(createUser), Metadata: c.Metadata, CreatedAt: deref(createdAt), ExpiresAt: deref(expiresAt)}
	}
	switch outcome {
	case "none":
		return phoneauth.VerifyOutcome{}, phoneauth.ErrNotFound
	case "refused":
		switch {
		case pos >= 1 && int(pos) <= len(addr.index):
			out.Refused = addr.index[pos-1]
		case int(pos) == len(addr.index)+1 && budgetKey != "":
			out.Refused = len(r.AddressChecks)
		default:
			return phoneauth.VerifyOutcome{}, unavailable("verify challenge", fmt.Errorf("unexpected refusal by check %d", pos))
		}
		out.Result, out.RetryAfter = phoneauth.VerifyRefused, time.Duration(retryNS)
	case "wrong":
		out.Result = phoneauth.VerifyWrongCode
	case "nouser":
		out.Result = phoneauth.VerifyNoUser
	case "ok":
		*u = phoneauth.User{ID: deref(uID), Phone: deref(uPhone), CreatedAt: deref(uCreatedAt)}
		out.Result, out.IsNewUser = phoneauth.VerifySignedIn, u.ID == userID
		ses.UserID, ses.Phone = u.ID, u.Phone
		ses.CreatedAt, ses.RefreshedAt = r.Now, r.Now
		out.Session = ses
	default:
		return phoneauth.VerifyOutcome{}, unavailable("verify challenge", fmt.Errorf("unexpected outcome %q", outcome))
	}
	return out, nil
}

// deref returns *p, or the zero value for nil (a NULL column).
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// RefreshSession applies the refresh's limits and rotates its token in one
// statement. It implements phoneauth.RouteStore.
func (s *Store) RefreshSession(ctx context.Context, checks []phoneauth.LimitCheck, r phoneauth.Rotation) (phoneauth.Session, int, time.Duration, error) {
	b, refused, retryAfter, err := newBatch(checks)
	if err != nil || refused >= 0 {
		return phoneauth.Session{}, refused, retryAfter, err
	}
	return s.rotate(ctx, b, r)
}
