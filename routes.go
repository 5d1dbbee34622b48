package phoneauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// A RouteStore is a Store that can do all the backend work of a code
// request, of a sign-in verification and of a refresh in one atomic call
// each: one
// transaction (PostgreSQL) or one script (Redis) per route instead of one
// call per step. It is optional: an Authenticator uses it when its Store
// implements it and Routes accepts the Authenticator's Limiter and Users,
// and otherwise makes the steps' calls one by one (PutChallenge,
// AttemptChallenge, Limiter.AllowAll and so on), which every Store
// supports. The outcome of a route call is what those calls would have
// produced; a route call that returns an error has changed nothing. A
// store that does a route in several steps must undo the steps that
// happened when a later one fails (redisstore restores a consumed code
// when creating the session fails). Where the store cannot promise it,
// because its deadline fired after it had committed (or, for a store of
// several steps, it could not be reached to undo them), the route's effect
// stands; docs/operations.md says what then holds per store.
type RouteStore interface {
	Store

	// Routes reports whether IssueChallenge and VerifyChallenge can apply
	// the limits of limiter and find and create the users of users: both
	// keep their data with the store (normally the store's own limiter and
	// the store itself). If it returns false the Authenticator does not use
	// the route calls.
	Routes(limiter Limiter, users Users) bool

	// IssueChallenge is Limiter.AllowAll(r.Checks, r.Now) followed, if no
	// check refused, by PutChallenge(r.Challenge), all or nothing: it
	// returns the index of the first check that refused (-1 if none) and
	// when that check allows an event again; a refused call records no
	// event and stores nothing.
	IssueChallenge(ctx context.Context, r IssueRoute) (refused int, retryAfter time.Duration, err error)

	// VerifyChallenge checks a code and signs its user in, atomically; see
	// VerifyRoute for the steps and VerifyOutcome for the answers. It
	// returns ErrNotFound, having changed nothing but the address limits'
	// events, when there is no live challenge under r.Key with ID r.ID
	// (any ID when empty) and attempts left.
	VerifyChallenge(ctx context.Context, r VerifyRoute) (VerifyOutcome, error)

	// RefreshSession is Limiter.AllowAll(checks, r.Now) followed, if no
	// check refused, by RotateRefresh(r): refused is the index of the
	// first check that refused (-1 if none), with when it allows an event
	// again, and otherwise s and err are RotateRefresh's.
	RefreshSession(ctx context.Context, checks []LimitCheck, r Rotation) (s Session, refused int, retryAfter time.Duration, err error)
}

// IssueRoute is the work of a code request (see RouteStore.IssueChallenge).
type IssueRoute struct {
	// Checks are the request's limits, in order; none is Off.
	Checks []LimitCheck
	// Challenge is the new challenge, stored if every check allows.
	Challenge Challenge
	// Now is the time of the request, for the limits.
	Now time.Time
}

// VerifyRoute is the work of a sign-in verification, in the order a
// RouteStore does it (see RouteStore.VerifyChallenge):
//
//  1. Limiter.AllowAll(AddressChecks, Now): a refusal ends the call
//     (VerifyRefused, with Refused its index), changing nothing.
//  2. AttemptChallenge(Key, ID, Now): no challenge ends the call with
//     ErrNotFound.
//  3. The failed-verify budget: Limiter.Allow(Budget.Key, Budget.Limit,
//     Now), unless Budget.Key is empty. A refusal ends the call
//     (VerifyRefused, Refused len(AddressChecks)); the attempt stays
//     counted.
//  4. The code: the challenge's CodeHash must equal one of CodeHashes,
//     else the call ends with VerifyWrongCode (attempt and budget event
//     counted).
//  5. DeleteChallenge; Limiter RefundAll(Credits, [Budget.Key], Now).
//  6. The user of the challenge's Phone: created as Users.CreateUser does
//     (with the challenge's Metadata) if Signup allows (SignupAllowed, or
//     SignupWithCreateUser and the challenge's CreateUser), else found as
//     Users.UserByPhone does. No user ends the call with VerifyNoUser (the
//     code stays consumed).
//  7. CreateSession(Session), with the user's ID and Phone.
//
// Atomically, the order of steps 5 to 7 does not matter; a store that
// cannot do them in one transaction must, when step 6 or 7 fails, put the
// challenge back as it was after step 2 and give back what steps 1 and 5
// charged and credited, so that an error leaves the code usable, as
// Verify does with the one-by-one calls (which consume last).
type VerifyRoute struct {
	Key, ID       string
	Now           time.Time
	AddressChecks []LimitCheck
	Budget        LimitCheck
	// CodeHashes are the MACs the typed code has under the current and
	// each previous secret (see Challenge.CodeHash). A backend may compare
	// them in any way: each is a keyed MAC that no one can compute without
	// the secret, so how long a comparison takes says nothing about the
	// code.
	CodeHashes [][]byte
	Credits    []LimitCheck
	Signup     SignupPolicy
	// Session is the new session, complete but for UserID and Phone.
	Session Session
}

// VerifyResult says how a VerifyChallenge call ended.
type VerifyResult int

// The answers of RouteStore.VerifyChallenge.
const (
	// VerifySignedIn: the code matched and the session was created.
	VerifySignedIn VerifyResult = iota
	// VerifyRefused: a limit refused (VerifyOutcome.Refused, RetryAfter).
	VerifyRefused
	// VerifyWrongCode: the code did not match; the attempt was counted.
	VerifyWrongCode
	// VerifyNoUser: the code matched and was consumed, but the phone has
	// no user and the signup policy creates none.
	VerifyNoUser
)

// VerifyOutcome is the answer of RouteStore.VerifyChallenge.
type VerifyOutcome struct {
	Result VerifyResult
	// Refused and RetryAfter describe a VerifyRefused: the index of the
	// refusing check (len(AddressChecks) for the budget) and when it
	// allows an event again.
	Refused    int
	RetryAfter time.Duration
	// Challenge is the challenge as attempted (with its incremented
	// Attempts), for every result but VerifyRefused of an address check.
	Challenge Challenge
	// User, IsNewUser and Session describe a VerifySignedIn.
	User      User
	IsNewUser bool
	Session   Session
}

// ChallengeMatches reports whether c's CodeHash is one of hashes (see
// VerifyRoute.CodeHashes), in constant time: for a RouteStore that
// compares in Go. A challenge without a CodeHash matches nothing.
func ChallengeMatches(c Challenge, hashes [][]byte) bool {
	if len(c.CodeHash) == 0 {
		return false // a lost hash must not match an empty candidate
	}
	match := 0
	for _, h := range hashes {
		match |= subtle.ConstantTimeCompare(c.CodeHash, h)
	}
	return match == 1
}

// newRoutes returns the Store as a RouteStore if the Authenticator can use
// its route calls with cfg's Limiter and Users, else nil.
func newRoutes(cfg *Config) RouteStore {
	r, ok := cfg.Store.(RouteStore)
	if !ok || !r.Routes(cfg.Limiter, cfg.Users) {
		return nil
	}
	return r
}

// issueByRoute decides live checks and stores c if they all allow, in one
// IssueChallenge call, and returns allowChecks's answer.
func (a *Authenticator) issueByRoute(ctx context.Context, checks []scopedCheck, c Challenge, now time.Time) (int, time.Duration, error) {
	refused, retry, err := a.store.IssueChallenge(ctx, IssueRoute{Checks: limitChecks(checks), Challenge: c, Now: now})
	switch {
	case err != nil:
		return -1, 0, storeErr("issue challenge", err)
	case refused >= len(checks):
		return -1, 0, storeErr("issue challenge", fmt.Errorf("refused by check %d of %d", refused, len(checks)))
	}
	return refused, retry, nil
}

// verifyByRoute is Verify in one VerifyChallenge call: it checks the
// code, consumes it, settles the limits, resolves the user and creates the
// session, and then signs the access token.
func (a *Authenticator) verifyByRoute(ctx context.Context, p VerifyParams, ph Phone) (SignIn, error) {
	key := loginKey(ph.E164, p.Device.ID)
	ev := Event{Phone: ph.E164, Region: ph.Region, ChallengeID: p.RequestID, DeviceID: p.Device.ID, IP: p.IP}
	code, err := a.normalizeCode(ctx, ev, typedCode{p.Code, p.CodeIsNumber})
	if err != nil {
		return SignIn{}, err
	}
	addrChecks := liveChecks(a.addressChecks("verify-ip", "verify-ip:", parseClientAddr(p.IP), a.cfg.Limits.VerifyPerIP))
	scopes := make([]string, 0, len(addrChecks)+1)
	for _, c := range addrChecks {
		scopes = append(scopes, c.scope)
	}
	scopes = append(scopes, "verify")
	budget := a.failedVerifyBudget(ph.E164)
	now := a.clock.Now()
	s, refresh := a.newSession(User{}, p.Device, now)
	out, err := a.store.VerifyChallenge(ctx, VerifyRoute{
		Key: key, ID: p.RequestID, Now: now,
		AddressChecks: limitChecks(addrChecks),
		Budget:        budget,
		CodeHashes:    a.codeMACs(key, ph.E164, code),
		Credits:       a.guardCredits(ph),
		Signup:        a.cfg.Signup,
		Session:       s,
	})
	switch {
	case errors.Is(err, ErrNotFound):
		a.emit(ctx, withErr(ev, EventVerifyFailed, ErrVerificationFailed))
		return SignIn{}, ErrVerificationFailed
	case err != nil:
		return SignIn{}, storeErr("verify challenge", err)
	}
	if out.Challenge.ID != "" {
		ev.ChallengeID = out.Challenge.ID
	}
	switch out.Result {
	case VerifyRefused:
		if out.Refused < 0 || out.Refused >= len(scopes) {
			return SignIn{}, storeErr("verify challenge", fmt.Errorf("refused by check %d of %d", out.Refused, len(scopes)))
		}
		return SignIn{}, a.refuse(ctx, scopes[out.Refused], out.RetryAfter, ph.E164, false)
	case VerifyWrongCode:
		return SignIn{}, a.wrongCode(ctx, ev, out.Challenge)
	case VerifyNoUser:
		a.emit(ctx, with(ev, EventVerified))
		return SignIn{}, ErrSignupNotAllowed
	case VerifySignedIn:
	default:
		return SignIn{}, storeErr("verify challenge", fmt.Errorf("unknown result %d", out.Result))
	}
	a.emit(ctx, with(ev, EventVerified))
	s = out.Session
	access, accessExp, err := a.accessToken(s, now)
	if err != nil {
		return SignIn{}, err
	}
	a.emit(ctx, Event{Kind: EventSignedIn, Phone: s.Phone, UserID: s.UserID, SessionID: s.ID, DeviceID: p.Device.ID})
	return SignIn{User: out.User, IsNewUser: out.IsNewUser, Session: withoutSecrets(s), Tokens: Tokens{
		AccessToken:      access,
		AccessExpiresAt:  accessExp,
		RefreshToken:     refresh,
		RefreshExpiresAt: s.RefreshExpiresAt,
	}}, nil
}

// rotateByRoute applies the refresh's address limit and rotates in one
// RefreshSession call. A refusal is a *RateLimitError; otherwise the
// answer is RotateRefresh's.
func (a *Authenticator) rotateByRoute(ctx context.Context, checks []scopedCheck, r Rotation) (Session, error) {
	s, refused, retry, err := a.store.RefreshSession(ctx, limitChecks(checks), r)
	switch {
	case err != nil:
		return Session{}, err
	case refused >= 0 && refused < len(checks):
		return Session{}, a.refuse(ctx, checks[refused].scope, retry, "", false)
	case refused >= 0:
		return Session{}, storeErr("refresh session", fmt.Errorf("refused by check %d of %d", refused, len(checks)))
	}
	return s, nil
}
