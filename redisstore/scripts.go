package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts behind the operations that must be atomic. Each touches
// only the keys it is given, and all of them share one hash slot, so every
// script runs on Redis Cluster and Valkey as on a single server.
//
// Times are unix microseconds (exact in Lua's doubles until the year 2255)
// and "now" always comes from the caller, never from Redis's TIME, so every
// replica and every test clock is judged alike. Redis is Lua 5.1: a missing
// key or hash field reads as false.

// attemptChallenge counts one verification attempt.
//
//	KEYS[1] challenge hash
//	ARGV[1] challenge id ('' matches any), ARGV[2] now
//
// It returns the challenge's fields after the increment (HGETALL), or nil
// when there is nothing to attempt.
var attemptChallenge = redis.NewScript(luaAttempt + `
if not attempt(KEYS[1], ARGV[1], tonumber(ARGV[2])) then return false end
return redis.call('HGETALL', KEYS[1])
`)

// luaAttempt defines attempt(key, id, now), the check and increment of
// attemptChallenge: true if it counted an attempt.
const luaAttempt = `
local function attempt(key, id, now)
  local c = redis.call('HMGET', key, 'id', 'expires_at', 'attempts', 'max_attempts')
  if not c[1] then return false end
  if id ~= '' and c[1] ~= id then return false end
  if (tonumber(c[2]) or 0) <= now then return false end
  if (tonumber(c[3]) or 0) >= (tonumber(c[4]) or 0) then return false end
  redis.call('HINCRBY', key, 'attempts', 1)
  return true
end
`

// deleteChallenge consumes a challenge if it is still the one with the given
// id, and leaves a marker with the call's nonce, so that the same call run
// again (go-redis re-sends a command whose connection dropped before the
// reply) answers 1 again, while any other call answers 0.
//
//	KEYS[1] challenge hash, KEYS[2] its deletion marker
//	ARGV[1] challenge id, ARGV[2] the call's nonce, ARGV[3] the marker's TTL in ms
//
// It returns 1 when it deleted the challenge (or this call had), 0 otherwise.
var deleteChallenge = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
if redis.call('GET', KEYS[2]) == ARGV[2] then return 1 end
return 0
`)

// createSession stores a new session unless its id is taken.
//
//	KEYS[1] session hash, KEYS[2] the session's past-token hash
//	ARGV[1] TTL in ms, ARGV[2...] field, value, field, value...
//
// It returns 1, or 0 for a duplicate id. Run again (go-redis re-sends a
// command whose connection dropped before the reply), it finds its own
// session, with the refresh-token hash it stored, and returns 1 again.
var createSession = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  local stored = redis.call('HGET', KEYS[1], 'refresh_hash')
  for i = 2, #ARGV, 2 do
    if ARGV[i] == 'refresh_hash' then return ARGV[i + 1] == stored and 1 or 0 end
  end
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// indexSession adds a session to its user's index, a sorted set of session
// ids scored by their expiry, drops the ids that have expired, and keeps the
// index alive as long as its longest-lived session.
//
//	KEYS[1] user's session index
//	ARGV[1] session id, ARGV[2] its expiry, ARGV[3] now, ARGV[4] TTL in ms
var indexSession = redis.NewScript(luaIndexSession + `
return index_session(KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))
`)

// luaIndexSession defines index_session(key, id, expiry, now, ttl), the
// work of indexSession.
const luaIndexSession = `
local function index_session(key, id, expiry, now, ttl)
  redis.call('ZADD', key, expiry, id)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
  return 1
end
`

// rotateRefresh replaces a session's refresh token (see
// phoneauth.SessionStore.RotateRefresh for the rules). Past tokens live in
// a hash of token hash → rotation time; a token that stops being current
// goes there, stamped with now.
//
//	KEYS[1] session hash, KEYS[2] the session's past-token hash
//	ARGV[1] presented hash, ARGV[2] new hash, ARGV[3] new token's expiry,
//	ARGV[4] now, ARGV[5] grace in µs
//
// A past token presented within the grace of its rotation with the new
// hash that is already current is this very rotation arriving again (a
// retry, a concurrent refresh of the same token: the Authenticator derives
// the successor from the token; or go-redis re-sending a command whose
// reply was lost): it is answered with the session as it is, not mistaken
// for reuse.
//
// It returns the session's fields after the rotation (HGETALL), 0 when
// there is nothing to rotate, or 1 when it detected a reused token and
// deleted the session.
var rotateRefresh = redis.NewScript(`
local now = tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'expires_at', 'refresh_hash', 'refresh_expires_at')
if not s[1] or (tonumber(s[1]) or 0) <= now then return 0 end
local function rotate()
  redis.call('HSET', KEYS[2], s[2] or '', ARGV[4])
  redis.call('HSET', KEYS[1], 'refresh_hash', ARGV[2], 'refreshed_at', ARGV[4], 'refresh_expires_at', ARGV[3])
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
  return redis.call('HGETALL', KEYS[1])
end
if s[2] == ARGV[1] then
  if (tonumber(s[3]) or 0) <= now then return 0 end
  return rotate()
end
local at = redis.call('HGET', KEYS[2], ARGV[1])
if not at then return 0 end
local grace = tonumber(ARGV[5])
if s[2] == ARGV[2] and grace > 0 and now - tonumber(at) < grace then
  return redis.call('HGETALL', KEYS[1])
end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`)

// keepSession gives a session of a user a new phone, if it is the user's
// and live: the first step of RevokeOtherSessions.
//
//	KEYS[1] session hash
//	ARGV[1] user id, ARGV[2] phone, ARGV[3] now
//
// It returns 1 when done, 0 when there is no such live session of the user.
var keepSession = redis.NewScript(`
local s = redis.call('HMGET', KEYS[1], 'user', 'expires_at')
if s[1] ~= ARGV[1] or (tonumber(s[2]) or 0) <= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'phone', ARGV[2])
return 1
`)

// userByPhone looks a user up by phone.
//
//	KEYS[1] phone → user id, KEYS[2] user id → creation time
//	ARGV[1] phone
//
// It returns {id, created}, or nil.
var userByPhone = redis.NewScript(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
return {id, redis.call('HGET', KEYS[2], id) or ''}
`)

// createUser creates a user unless the phone has one already.
//
//	KEYS[1] phone → user id, KEYS[2] user id → phone,
//	KEYS[3] user id → creation time, KEYS[4] user id → metadata
//	ARGV[1] phone, ARGV[2] new user id, ARGV[3] creation time,
//	ARGV[4] metadata JSON ('' for none)
//
// It returns {1, id, created} for a new user or {0, id, created} for the
// phone's existing one; a run that finds the id it was given (go-redis
// re-sent it after a dropped connection) answers {1, …} again.
var createUser = redis.NewScript(luaCreateUser + `
return create_user(KEYS, ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`)

// luaCreateUser defines create_user(keys, phone, id, created, metadata),
// createUser on the user tables keys (KEYS[1..4] of createUser).
const luaCreateUser = `
local function create_user(keys, phone, id, created, metadata)
  local old = redis.call('HGET', keys[1], phone)
  if old then return {old == id and 1 or 0, old, redis.call('HGET', keys[3], old) or ''} end
  redis.call('HSET', keys[1], phone, id)
  redis.call('HSET', keys[2], id, phone)
  redis.call('HSET', keys[3], id, created)
  if metadata ~= '' then redis.call('HSET', keys[4], id, metadata) end
  return {1, id, created}
end
`

// setPhone moves a user to a new verified phone.
//
//	KEYS[1] phone → user id, KEYS[2] user id → phone
//	ARGV[1] user id, ARGV[2] phone
//
// It returns 1 when done, 0 for an unknown user, -1 for a phone that
// belongs to another user.
var setPhone = redis.NewScript(`
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
local owner = redis.call('HGET', KEYS[1], ARGV[2])
if owner and owner ~= ARGV[1] then return -1 end
if old ~= ARGV[2] then
  if redis.call('HGET', KEYS[1], old) == ARGV[1] then redis.call('HDEL', KEYS[1], old) end
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
return 1
`)

// allow is GCRA (the generic cell rate algorithm): the key holds the
// theoretical arrival time (TAT) of the next event. An event at now is
// allowed when TAT + interval - burst <= now, where interval = Per/Events
// and burst = interval × Events = Per: a burst of Events, then one event per
// interval, exactly a token bucket of Events tokens refilled over Per.
//
//	KEYS[1] limiter key
//	ARGV[1] now, ARGV[2] emission interval, ARGV[3] burst (all µs),
//	ARGV[4] extra TTL in ms
//
// It returns {1, 0} for an allowed event (and records it) or {0, µs to
// wait} for a refused one (and records nothing).
var allow = redis.NewScript(`
local now = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local new = tat + tonumber(ARGV[2])
local allowAt = new - tonumber(ARGV[3])
if allowAt > now then return {0, allowAt - now} end
redis.call('SET', KEYS[1], string.format('%d', new), 'PX',
  string.format('%d', math.ceil((new - now) / 1000) + tonumber(ARGV[4])))
return {1, 0}
`)

// refundAll gives one event back to each of the first n GCRA keys: its
// TAT moves back one emission interval (a TAT that reaches now means a full
// bucket, which is no key at all), and deletes the other keys.
//
//	KEYS[1..n]   limiter keys to refund, KEYS[n+1..] keys to delete
//	ARGV[1] now (µs), ARGV[2] extra TTL in ms, ARGV[3] n,
//	ARGV[3+i]    key i's emission interval (µs)
//
// It returns the number of events given back.
var refundAll = redis.NewScript(luaRefund + `
local now, margin, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local given = 0
for i = 1, n do given = given + refund(KEYS[i], now, margin, tonumber(ARGV[3 + i])) end
for i = n + 1, #KEYS do redis.call('DEL', KEYS[i]) end
return given
`)

// luaRefund defines refund(key, now, margin, step), one event given back
// to key's bucket: its tat moves back step, and the key goes when its
// bucket is full. It returns 1 if the bucket had an event to give back.
const luaRefund = `
local function refund(key, now, margin, step)
  local tat = tonumber(redis.call('GET', key) or now) or now
  if tat <= now then return 0 end
  local new = tat - step
  if new <= now then
    redis.call('DEL', key)
  else
    redis.call('SET', key, string.format('%d', new), 'PX',
      string.format('%d', math.ceil((new - now) / 1000) + margin))
  end
  return 1
end
`

// allowAll is allow over several keys, all or nothing: it records an event
// on every key if each allows one, and nothing otherwise.
//
//	KEYS[i]            limiter keys
//	ARGV[1]            now (µs), ARGV[2] extra TTL in ms
//	ARGV[2i+1], [2i+2] key i's emission interval and burst (µs)
//
// It returns {0, 0} when every key allowed, or {i, µs to wait} for the
// first key i (from 1) that refused.
var allowAll = redis.NewScript(luaAllowAll + `
return {allow_all(KEYS, tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV, 2)}
`)

// luaAllowAll defines allow_all(keys, now, margin, args, base), the
// decision of allowAll: key i's emission interval and burst are
// args[base + 2i - 1] and args[base + 2i]. It returns 0, 0 when it
// recorded an event on every key, or i and the µs to wait for the first
// key i that refused, having recorded nothing. It reads every key with one
// MGET: the keys share a slot, as all of a script's keys do.
const luaAllowAll = `
local function allow_all(keys, now, margin, args, base)
  if #keys == 0 then return 0, 0 end
  local tats = redis.call('MGET', unpack(keys))
  local news = {}
  for i = 1, #keys do
    local tat = tonumber(tats[i] or now) or now
    if tat < now then tat = now end
    local new = tat + tonumber(args[base + 2 * i - 1])
    local allowAt = new - tonumber(args[base + 2 * i])
    if allowAt > now then return i, allowAt - now end
    news[i] = new
  end
  for i = 1, #keys do
    redis.call('SET', keys[i], string.format('%d', news[i]), 'PX',
      string.format('%d', math.ceil((news[i] - now) / 1000) + margin))
  end
  return 0, 0
end
`
