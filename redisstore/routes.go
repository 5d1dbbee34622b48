package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/redis/go-redis/v9"
)

// A Store is a phoneauth.RouteStore: with a Limiter of its client and
// prefix, and as its own Users, an Authenticator sends Redis one script for
// a code request and three for a sign-in verification, four commands per
// sign-in, each in one slot, so that they run on Redis Cluster:
//
//   - the request: issueChallenge on {P:l}, the limiter's slot, which the
//     challenges share: the limits and the new challenge, all or nothing;
//   - the verification: verifyChallenge on {P:l}: the address limits, the
//     attempt, the failed-verify budget, the code, its consumption, the
//     budget's reset and the conversion guard's credit, atomically; then
//     signInUser on {P:u}, the users' slot, which the session indexes
//     share: the user found or created and the session indexed; then
//     createSession on {P:s:ID}.
//
// The verification is three scripts, not one transaction. The first
// consumes the code by renaming its challenge to a tombstone, {P:l}cu:KEY,
// that remembers for restoreWindow which verification consumed it and
// which guard credits it applied. If a script fails (the first too: Redis
// may have run it and lost the reply), restoreChallenge undoes the first
// if it ran: it puts the challenge back as it was
// (its attempt counted), gives the address limits their events back and
// takes back the guard credits, so that the call has changed nothing and
// the retry with the same code can succeed. It does so only if the
// tombstone is still this verification's and no challenge has been stored
// under the key since, so it cannot bring back a code that another
// verification used or that a newer code replaced. If Redis cannot be
// reached for restoreChallenge either, the code stays consumed and the
// client requests a new one. An index entry whose session was never
// created is dropped by ListSessions.
//
// Likewise a request whose issueChallenge fails is undone by dropChallenge
// if Redis ran it after all, and a refresh whose rotation fails gives its
// limits back: a route call that returns an error has changed nothing,
// unless Redis could not be reached to undo it.
var _ phoneauth.RouteStore = (*Store)(nil)

// Routes reports whether limiter is a Limiter of this Store's client and
// prefix and users is the Store itself. It implements phoneauth.RouteStore.
func (s *Store) Routes(limiter phoneauth.Limiter, users phoneauth.Users) bool {
	lim, ok := limiter.(*Limiter)
	u, isStore := users.(*Store)
	return ok && isStore && u == s && lim.rdb == s.rdb && lim.keys == s.keys
}

// issueChallenge is AllowAll's decision and, if every key allowed,
// PutChallenge.
//
//	KEYS[1..n] limiter keys, KEYS[n+1] challenge hash, KEYS[n+2] its tombstone
//	ARGV[1] now (µs), ARGV[2] extra TTL in ms, ARGV[3] n,
//	ARGV[2i+2], [2i+3] key i's emission interval and burst (µs),
//	ARGV[2n+4] the challenge's TTL in ms, ARGV[2n+5...] its fields and values
//
// It returns allowAll's answer. The new challenge ends the tombstone of a
// code the key's last verification consumed: that code can no longer be
// restored (see restoreChallenge). Run again after it stored its challenge
// (go-redis re-sends a command whose connection dropped before the reply),
// it finds its challenge's id under the key and answers {0, 0} again
// without charging the limits twice: the cooldown its first run started
// would refuse it.
var issueChallenge = redis.NewScript(luaAllowAll + `
local n = tonumber(ARGV[3])
local c = KEYS[n + 1]
local id = redis.call('HGET', c, 'id')
for i = 2 * n + 5, #ARGV, 2 do
  if ARGV[i] == 'id' and ARGV[i + 1] == id then return {0, 0} end
end
local limits = {}
for i = 1, n do limits[i] = KEYS[i] end
local refused, wait = allow_all(limits, tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV, 3)
if refused > 0 then return {refused, wait} end
redis.call('DEL', c, KEYS[n + 2])
redis.call('HSET', c, unpack(ARGV, 2 * n + 5))
redis.call('PEXPIRE', c, ARGV[2 * n + 4])
return {0, 0}
`)

// verifyChallenge is the limiter's and the challenge's part of a
// verification (phoneauth.VerifyRoute steps 1 to 5).
//
//	KEYS: na address keys, nc guard keys, nb (0 or 1) budget key, the
//	challenge, its tombstone, its veto
//	ARGV[1] now (µs), ARGV[2] extra TTL in ms, ARGV[3] na, ARGV[4] nc,
//	ARGV[5] nb, ARGV[6] challenge id ('' for any), ARGV[7] the
//	verification's id, ARGV[8] the tombstone's TTL in ms, then the address
//	keys' interval and burst pairs, the guard keys' intervals, the
//	budget's interval and burst, and the code's MACs.
//
// It returns {'refused', check from 1, µs to wait[, challenge]},
// {'none'}, or {'wrong' or 'ok', 0, 0, challenge} with the challenge's
// fields (HGETALL) after the attempt. A right code's challenge becomes the
// tombstone, with the verification's id and the guard credits it applied
// ('1' or '0' per guard key), for restoreChallenge. The MACs cannot be
// computed without the server's secret, so the time Lua's string
// comparison takes tells nothing about the code. Run again after it
// consumed the code (go-redis re-sends a command whose connection dropped
// before the reply), it finds its own tombstone and answers 'ok' with it
// again, charging nothing more: the code it consumed would otherwise be
// missing, and the right code answered as none pending. Run after its own
// restore (both held back by a paused Redis, the restore first), it finds
// the veto the restore left and does nothing.
var verifyChallenge = redis.NewScript(luaAllowAll + luaRefund + luaAttempt + `
local now, margin = tonumber(ARGV[1]), tonumber(ARGV[2])
local na, nc, nb = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local t = KEYS[na + nc + nb + 2]
if redis.call('HGET', t, 'consumed_by') == ARGV[7] then
  return {'ok', 0, 0, redis.call('HGETALL', t)}
end
if redis.call('GET', KEYS[na + nc + nb + 3]) == ARGV[7] then return {'none'} end
local addr = {}
for i = 1, na do addr[i] = KEYS[i] end
local refused, wait = allow_all(addr, now, margin, ARGV, 8)
if refused > 0 then return {'refused', refused, wait} end
local c = KEYS[na + nc + nb + 1]
if not attempt(c, ARGV[6], now) then return {'none'} end
local budget = 8 + 2 * na + nc
if nb == 1 then
  refused, wait = allow_all({KEYS[na + nc + 1]}, now, margin, ARGV, budget)
  if refused > 0 then return {'refused', na + 1, wait, redis.call('HGETALL', c)} end
end
local fields = redis.call('HGETALL', c)
local hash = redis.call('HGET', c, 'hash')
local match = false
for i = budget + 2 * nb + 1, #ARGV do
  if ARGV[i] == hash then match = true end
end
if not match then return {'wrong', 0, 0, fields} end
if nb == 1 then redis.call('DEL', KEYS[na + nc + 1]) end
local credited = ''
for i = 1, nc do credited = credited .. refund(KEYS[na + i], now, margin, tonumber(ARGV[8 + 2 * na + i])) end
redis.call('RENAME', c, t)
redis.call('HSET', t, 'consumed_by', ARGV[7], 'credited', credited)
redis.call('PEXPIRE', t, ARGV[8])
return {'ok', 0, 0, fields}
`)

// restoreChallenge undoes verifyChallenge's consume of a right code whose
// sign-in failed, if the key's tombstone is still that verification's:
// unless a challenge has been stored under the key since or the code has
// expired, it renames the tombstone back to the challenge, as it was after
// its attempt, with its TTL; then it gives each address key its event back
// and takes back the guard credits that verifyChallenge applied. The
// failed-verify budget, which the right code reset, stays reset.
//
// Finding no tombstone of the verification, it leaves a veto with the
// verification's id instead, for restoreWindow: should the verification's
// script run after all (a paused Redis runs what it held back when it
// resumes, in no set order), it then does nothing.
//
// The code comes first, with commands that need no memory: a Redis out of
// memory (maxmemory with noeviction) refuses a script's first write if it
// needs memory, and lets the rest of the script write once one has been
// made, so the code comes back then too, and so do the limits.
//
//	KEYS: na address keys, nc guard keys, the challenge, its tombstone,
//	its veto
//	ARGV[1] now (µs), ARGV[2] extra TTL in ms, ARGV[3] na, ARGV[4] nc,
//	ARGV[5] the verification's id, then the address keys' and the guard
//	keys' emission intervals, then the veto's TTL in ms
//
// It returns 2 when it restored the challenge, 1 when it gave the limits
// back only, and 0 when the tombstone was not the verification's (nothing
// done but the veto: the verification has not run, another verification
// consumed the code since, or this restore already ran).
var restoreChallenge = redis.NewScript(luaRefund + `
local now, margin = tonumber(ARGV[1]), tonumber(ARGV[2])
local na, nc = tonumber(ARGV[3]), tonumber(ARGV[4])
local c, t = KEYS[na + nc + 1], KEYS[na + nc + 2]
if redis.call('HGET', t, 'consumed_by') ~= ARGV[5] then
  redis.call('SET', KEYS[na + nc + 3], ARGV[5], 'PX', ARGV[6 + na + nc])
  return 0
end
local credited = redis.call('HGET', t, 'credited') or ''
local expires = tonumber(redis.call('HGET', t, 'expires_at')) or 0
local restored = 1
if redis.call('EXISTS', c) == 1 or expires <= now then
  redis.call('DEL', t)
else
  redis.call('HDEL', t, 'consumed_by', 'credited')
  redis.call('RENAME', t, c)
  redis.call('PEXPIRE', c, string.format('%d', math.ceil((expires - now) / 1000) + margin))
  restored = 2
end
for i = 1, na do refund(KEYS[i], now, margin, tonumber(ARGV[5 + i])) end
for i = 1, nc do
  if string.sub(credited, i, i) == '1' then
    local key = KEYS[na + i]
    local tat = tonumber(redis.call('GET', key) or now) or now
    if tat < now then tat = now end
    tat = tat + tonumber(ARGV[5 + na + i])
    redis.call('SET', key, string.format('%d', tat), 'PX',
      string.format('%d', math.ceil((tat - now) / 1000) + margin))
  end
end
return restored
`)

// restoreWindow is how long a consumed code's tombstone lives: the time
// within which restoreChallenge can put the code back, well beyond the
// two scripts and the restore's own deadline.
const restoreWindow = 30 * time.Second

// restoreTimeout bounds restoreChallenge, dropChallenge and the refund
// of a failed refresh, which run after the call's own deadline may have
// passed: a healthy Redis answers them in well under a millisecond, and a
// Redis that does not answer delays the error by this much.
const restoreTimeout = 500 * time.Millisecond

// consumed is the tombstone of the challenge under key (see
// verifyChallenge): in the challenges' slot.
func (k keys) consumed(key string) string { return "{" + k.prefix + ":l}cu:" + key }

// vetoed is the veto of a verification's script on the challenge under
// key (see restoreChallenge): in the challenges' slot.
func (k keys) vetoed(key string) string { return "{" + k.prefix + ":l}cv:" + key }

// signInUser finds or creates the user of a verified phone and indexes
// its new session.
//
//	KEYS[1..4] the user tables (as createUser's)
//	ARGV[1] phone, ARGV[2] new user id, ARGV[3] creation time,
//	ARGV[4] metadata JSON, ARGV[5] '1' to create a missing user,
//	ARGV[6] the index keys' stem ({P:u}us:), ARGV[7] session id,
//	ARGV[8] its expiry (µs), ARGV[9] now (µs), ARGV[10] the index's TTL in ms
//
// It returns createUser's answer, or nil for a missing user it may not
// create. The index key, the stem and the user id, is not among KEYS (the
// id is known only here), but it is in KEYS's slot, {P:u}, so the node
// that runs the script holds it: Redis Cluster requires only that a
// script's keys share a slot.
var signInUser = redis.NewScript(luaCreateUser + luaIndexSession + `
local user
if ARGV[5] == '1' then
  user = create_user(KEYS, ARGV[1], ARGV[2], ARGV[3], ARGV[4])
else
  local id = redis.call('HGET', KEYS[1], ARGV[1])
  if not id then return false end
  user = {0, id, redis.call('HGET', KEYS[3], id) or ''}
end
index_session(ARGV[6] .. user[2], ARGV[7], ARGV[8], ARGV[9], tonumber(ARGV[10]))
return user
`)

// IssueChallenge applies the request's limits and stores its challenge,
// all or nothing, in one script. It implements phoneauth.RouteStore.
func (s *Store) IssueChallenge(ctx context.Context, r phoneauth.IssueRoute) (int, time.Duration, error) {
	c := r.Challenge
	f, err := challengeFields(c)
	if err != nil {
		return -1, 0, fmt.Errorf("redisstore: issue challenge: %w", err)
	}
	b, refused, retry := newBatch(s.keys, r.Checks)
	if refused >= 0 {
		return refused, retry, nil
	}
	keys := append(b.keys, s.keys.challenge(c.Key), s.keys.consumed(c.Key))
	args := append([]any{r.Now.UnixMicro(), ttlMargin.Milliseconds(), len(b.keys)}, b.args...)
	args = append(append(args, ttl(c.CreatedAt, c.ExpiresAt).Milliseconds()), f...)
	res, err := issueChallenge.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return -1, 0, s.unissue(ctx, b, c, r.Now, unavailable("issue challenge", err))
	}
	return b.result(res)
}

// dropChallenge undoes an issueChallenge that may have run although its
// caller got an error (a reply lost to a deadline): if the key's challenge
// is the one that call stored (same id and code hash), it deletes it and
// gives each limiter key its event back. Its code was never sent.
//
//	KEYS[1..n] limiter keys, KEYS[n+1] challenge hash
//	ARGV[1] now (µs), ARGV[2] extra TTL in ms, ARGV[3] challenge id,
//	ARGV[4] its code hash, ARGV[4+i] key i's emission interval (µs)
//
// It returns 1 when it undid the call, 0 when the call had not stored
// its challenge (or this drop already ran).
var dropChallenge = redis.NewScript(luaRefund + `
local now, margin = tonumber(ARGV[1]), tonumber(ARGV[2])
local c = KEYS[#KEYS]
local stored = redis.call('HMGET', c, 'id', 'hash')
if stored[1] ~= ARGV[3] or stored[2] ~= ARGV[4] then return 0 end
redis.call('DEL', c)
for i = 1, #KEYS - 1 do refund(KEYS[i], now, margin, tonumber(ARGV[4 + i])) end
return 1
`)

// unissue undoes the issueChallenge of c under the limits b, after it
// failed with err, in case Redis ran it (dropChallenge). It runs detached
// from ctx, whose deadline may be what failed, under restoreTimeout, and
// returns err, saying so if the undo failed.
func (s *Store) unissue(ctx context.Context, b batch, c phoneauth.Challenge, now time.Time, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	keys := append(append([]string{}, b.keys...), s.keys.challenge(c.Key))
	args := append([]any{now.UnixMicro(), ttlMargin.Milliseconds(), c.ID, c.CodeHash}, intervals(b)...)
	if derr := dropChallenge.Run(ctx, s.rdb, keys, args...).Err(); derr != nil {
		return fmt.Errorf("%w (if the request's limits were charged, they stay so: undoing it failed: %v)", err, derr)
	}
	return err
}

// intervals returns the emission intervals of a batch's keys, without
// their bursts.
func intervals(b batch) []any {
	out := make([]any, 0, len(b.keys))
	for i := 0; i < len(b.args); i += 2 {
		out = append(out, b.args[i])
	}
	return out
}

// VerifyChallenge checks a code and signs its user in with three scripts
// (see RouteStore above). If one fails, it restores the code and the
// limits (restoreChallenge: the first may have run, its reply lost)
// before it returns the error. It implements phoneauth.RouteStore.
func (s *Store) VerifyChallenge(ctx context.Context, r phoneauth.VerifyRoute) (phoneauth.VerifyOutcome, error) {
	addr, refused, retry := newBatch(s.keys, r.AddressChecks)
	if refused >= 0 {
		return phoneauth.VerifyOutcome{Result: phoneauth.VerifyRefused, Refused: refused, RetryAfter: retry}, nil
	}
	budget, _, _ := newBatch(s.keys, []phoneauth.LimitCheck{r.Budget})
	if r.Budget.Key == "" {
		budget = batch{}
	} else if r.Budget.Limit.Events <= 0 && !r.Budget.Limit.Off() {
		return phoneauth.VerifyOutcome{}, errors.New("redisstore: verify challenge: a failed-verify budget of no events")
	}
	credits := s.credits(r.Credits)
	keys := append(append([]string{}, addr.keys...), credits.keys...)
	keys = append(append(keys, budget.keys...), s.keys.challenge(r.Key), s.keys.consumed(r.Key), s.keys.vetoed(r.Key))
	args := []any{r.Now.UnixMicro(), ttlMargin.Milliseconds(), len(addr.keys), len(credits.keys), len(budget.keys), r.ID, r.Session.ID, restoreWindow.Milliseconds()}
	args = append(append(append(args, addr.args...), credits.args...), budget.args...)
	for _, h := range r.CodeHashes {
		args = append(args, h)
	}
	res, err := verifyChallenge.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil { // Redis may have run it, and consumed the code
		return phoneauth.VerifyOutcome{}, s.restore(ctx, r, addr, credits, false, unavailable("verify challenge", err))
	}
	out, err := s.verifyAnswer(r, res, len(addr.keys), addr.index)
	if err != nil || out.Result != phoneauth.VerifySignedIn {
		return out, err
	}
	signed, sessionTried, err := s.signIn(ctx, r, out)
	if err != nil {
		return phoneauth.VerifyOutcome{}, s.restore(ctx, r, addr, credits, sessionTried, err)
	}
	return signed, nil
}

// credits returns the guard checks of a verification as a batch whose
// args are the keys' emission intervals only.
func (s *Store) credits(checks []phoneauth.LimitCheck) batch {
	var b batch
	for _, c := range checks {
		if !c.Limit.Off() && c.Limit.Events > 0 {
			interval, _ := gcra(c.Limit)
			b.keys, b.args = append(b.keys, s.keys.limit(c.Key)), append(b.args, interval)
		}
	}
	return b
}

// restore undoes the consume of r's code after its sign-in failed with
// err (restoreChallenge), and deletes the session if creating it was
// tried (it may have been created before the reply was lost). It runs
// detached from ctx, whose deadline may be what failed, under
// restoreTimeout. It returns err, saying so if the code could not be
// restored.
func (s *Store) restore(ctx context.Context, r phoneauth.VerifyRoute, addr, credits batch, sessionTried bool, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	keys := append(append(append([]string{}, addr.keys...), credits.keys...), s.keys.challenge(r.Key), s.keys.consumed(r.Key), s.keys.vetoed(r.Key))
	args := []any{r.Now.UnixMicro(), ttlMargin.Milliseconds(), len(addr.keys), len(credits.keys), r.Session.ID}
	args = append(append(append(args, intervals(addr)...), credits.args...), restoreWindow.Milliseconds())
	if rerr := restoreChallenge.Run(ctx, s.rdb, keys, args...).Err(); rerr != nil {
		return fmt.Errorf("%w (the code stays consumed: restoring it failed: %v)", err, rerr)
	}
	if sessionTried {
		if derr := s.DeleteSession(ctx, r.Session.ID); derr != nil && !errors.Is(derr, phoneauth.ErrNotFound) {
			return fmt.Errorf("%w (the code is restored; deleting the session failed: %v)", err, derr)
		}
	}
	return err
}

// verifyAnswer reads verifyChallenge's answer: the outcome, with the
// attempted challenge.
func (s *Store) verifyAnswer(r phoneauth.VerifyRoute, res []any, na int, index []int) (phoneauth.VerifyOutcome, error) {
	bad := func() (phoneauth.VerifyOutcome, error) {
		return phoneauth.VerifyOutcome{}, unavailable("verify challenge", fmt.Errorf("unexpected reply %v", res))
	}
	if len(res) == 0 {
		return bad()
	}
	outcome, _ := res[0].(string)
	if outcome == "none" {
		return phoneauth.VerifyOutcome{}, phoneauth.ErrNotFound
	}
	if len(res) < 3 {
		return bad()
	}
	var out phoneauth.VerifyOutcome
	if len(res) == 4 {
		fields, _ := res[3].([]any)
		c, err := decodeChallenge(r.Key, pairs(fields))
		if err != nil {
			return phoneauth.VerifyOutcome{}, unavailable("verify challenge", err)
		}
		out.Challenge = c
	}
	switch outcome {
	case "refused":
		check, _ := res[1].(int64)
		wait, _ := res[2].(int64)
		switch {
		case check >= 1 && int(check) <= na:
			out.Refused = index[check-1]
		case int(check) == na+1:
			out.Refused = len(r.AddressChecks)
		default:
			return bad()
		}
		out.Result, out.RetryAfter = phoneauth.VerifyRefused, time.Duration(wait)*time.Microsecond
	case "wrong":
		out.Result = phoneauth.VerifyWrongCode
	case "ok":
		out.Result = phoneauth.VerifySignedIn
	default:
		return bad()
	}
	return out, nil
}

// signIn finds or creates the user of a verified challenge, indexes the
// new session (one script) and creates it (another). sessionTried says
// that it ran the second: on an error, the session may exist.
func (s *Store) signIn(ctx context.Context, r phoneauth.VerifyRoute, out phoneauth.VerifyOutcome) (_ phoneauth.VerifyOutcome, sessionTried bool, err error) {
	c := out.Challenge
	create := r.Signup == phoneauth.SignupAllowed || (r.Signup == phoneauth.SignupWithCreateUser && c.CreateUser)
	meta, err := encodeJSON(c.Metadata)
	if err != nil {
		return phoneauth.VerifyOutcome{}, false, fmt.Errorf("redisstore: verify challenge: metadata: %w", err)
	}
	if meta == "{}" {
		meta = ""
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id) // never fails (Go 1.24+: a failure crashes the program)
	sess := r.Session
	life := ttl(r.Now, sess.ExpiresAt)
	res, err := signInUser.Run(ctx, s.rdb, s.userKeys(),
		c.Phone, base64.RawURLEncoding.EncodeToString(id), encodeTime(s.clock.Now()), meta, encodeBool(create),
		s.keys.userSessions(""), sess.ID, micros(sess.ExpiresAt), micros(r.Now), life.Milliseconds(),
	).Slice()
	switch {
	case errors.Is(err, redis.Nil):
		out.Result = phoneauth.VerifyNoUser
		return out, false, nil
	case err != nil:
		return phoneauth.VerifyOutcome{}, false, unavailable("sign in user", err)
	case len(res) != 3:
		return phoneauth.VerifyOutcome{}, false, unavailable("sign in user", fmt.Errorf("unexpected reply %v", res))
	}
	isNew, _ := res[0].(int64)
	uid, _ := res[1].(string)
	createdStr, _ := res[2].(string)
	created, err := decodeTime(createdStr)
	if err != nil {
		return phoneauth.VerifyOutcome{}, false, unavailable("sign in user", err)
	}
	out.User, out.IsNewUser = phoneauth.User{ID: uid, Phone: c.Phone, CreatedAt: created}, isNew == 1
	sess.UserID, sess.Phone = uid, c.Phone
	sess.CreatedAt, sess.RefreshedAt = r.Now, r.Now
	device, err := json.Marshal(storedDevice(sess.Device))
	if err != nil {
		return phoneauth.VerifyOutcome{}, false, fmt.Errorf("redisstore: create session: device: %w", err)
	}
	n, err := createSession.Run(ctx, s.rdb, []string{s.keys.session(sess.ID), s.keys.tokens(sess.ID)},
		append([]any{life.Milliseconds()}, sessionFields(sess, device)...)...).Int64()
	switch {
	case err != nil:
		return phoneauth.VerifyOutcome{}, true, unavailable("create session", err)
	case n != 1:
		return phoneauth.VerifyOutcome{}, true, errors.New("redisstore: create session: duplicate session id")
	}
	out.Session = sess
	return out, true, nil
}

// RefreshSession applies the refresh's limits (Limiter.AllowAll) and then
// rotates (RotateRefresh): two scripts, since a session's slot is not the
// limiter's. If the rotation fails (an error other than RotateRefresh's
// answers), the limits get their events back (Limiter.RefundAll, detached
// from ctx under restoreTimeout), so that the call has changed nothing.
// It implements phoneauth.RouteStore.
func (s *Store) RefreshSession(ctx context.Context, checks []phoneauth.LimitCheck, r phoneauth.Rotation) (phoneauth.Session, int, time.Duration, error) {
	lim := &Limiter{rdb: s.rdb, keys: s.keys}
	refused, retry, err := lim.AllowAll(ctx, checks, r.Now)
	if err != nil || refused >= 0 {
		return phoneauth.Session{}, refused, retry, err
	}
	sess, err := s.RotateRefresh(ctx, r)
	if err != nil && !errors.Is(err, phoneauth.ErrNotFound) && !errors.Is(err, phoneauth.ErrTokenReused) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
		defer cancel()
		if rerr := lim.RefundAll(rctx, checks, nil, r.Now); rerr != nil {
			err = fmt.Errorf("%w (the refresh's limit events stay charged: %v)", err, rerr)
		}
	}
	return sess, -1, 0, err
}
