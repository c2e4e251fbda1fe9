/**
 * Lua scripts of the store. Each write (payload, expiry index, range index, change-log entry) is one
 * script, so a reader or a follower never sees half a change, and a crash never leaves a payload
 * without its change-log entry. Every script receives all the store's keys in keyList() order
 * (one hash tag: one cluster slot), ARGV[1] = change-log max length (approximate trim), ARGV[2] = now
 * (epoch ms, the store's clock); script-specific arguments follow.
 *
 * Numbers are handed to Redis as strings formatted with %d: Lua's default number-to-string
 * conversion (%.14g) would round the microsecond-seeded versions.
 */
const PRELUDE = `
local data, exp, ver, rng, rngof, rlen, chg, seq, epoch = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local allow, aexp, aidx, aof, alen = KEYS[10], KEYS[11], KEYS[12], KEYS[13], KEYS[14]
local gone, gonex = KEYS[15], KEYS[16]
local maxlen = ARGV[1]
local nowText = ARGV[2]
local now = tonumber(nowText)

-- Versions come from one counter. A fresh (or wiped) store seeds it with Redis's clock in
-- microseconds, so versions stay monotonic across a wipe as long as the previous store averaged
-- fewer than a million changes a second; the seed is kept as the epoch (followers from before
-- it must resync).
local function nextVersion()
  local v = redis.call('INCR', seq)
  if v == 1 then
    local t = redis.call('TIME')
    local seed = tonumber(t[1]) * 1000000 + tonumber(t[2])
    v = seed + 1
    redis.call('SET', seq, string.format('%d', v))
    redis.call('SET', epoch, string.format('%d', seed))
  end
  return v
end

-- The change-log entry id is <version>-0: the stream is ordered and addressed by version.
local function logChange(v, ...)
  redis.call('XADD', chg, 'MAXLEN', '~', maxlen, string.format('%d-0', v), ...)
end

local function lengthOf(field)
  return string.match(field, '^(%d/%d+)/')
end

local function indexAdd(indexKey, ofKey, lenKey, member, field)
  redis.call('HSET', ofKey, member, field)
  redis.call('HSET', indexKey, field, member)
  redis.call('HINCRBY', lenKey, lengthOf(field), 1)
end

local function indexRemove(indexKey, ofKey, lenKey, member)
  local field = redis.call('HGET', ofKey, member)
  if not field then return end
  redis.call('HDEL', ofKey, member)
  redis.call('HDEL', indexKey, field)
  local lengthField = lengthOf(field)
  if redis.call('HINCRBY', lenKey, lengthField, -1) <= 0 then redis.call('HDEL', lenKey, lengthField) end
end

-- Lua twin of keys.ts networkField().
local function networkField(family, len, hex)
  local digits = math.floor(len / 4)
  local remainder = len % 4
  local prefix = string.sub(hex, 1, digits)
  if remainder > 0 then
    local digit = tonumber(string.sub(hex, digits + 1, digits + 1), 16)
    local step = 2 ^ (4 - remainder)
    prefix = prefix .. string.format('%x', digit - (digit % step))
  end
  return family .. '/' .. string.format('%d', len) .. '/' .. prefix
end

-- Members of indexKey whose network holds the address: one probe per prefix length in use.
local function matchIndex(indexKey, lenKey, family, hex)
  local matches = {}
  for _, lengthField in ipairs(redis.call('HKEYS', lenKey)) do
    local f, len = string.match(lengthField, '^(%d)/(%d+)$')
    if f == family then
      local hit = redis.call('HGET', indexKey, networkField(family, tonumber(len), hex))
      if hit then table.insert(matches, hit) end
    end
  end
  return matches
end

-- The action of a stored payload ('' when unreadable): change-log entries carry the action a
-- replaced or deleted decision had, since a CrowdSec bouncer holds decisions by value and type.
-- A stored payload's string fields (an empty table when unreadable).
local function fieldsOf(payload)
  if not payload then return {} end
  local ok, decoded = pcall(cjson.decode, payload)
  if ok and type(decoded) == 'table' then return decoded end
  return {}
end

local function textOf(value)
  if type(value) == 'string' then return value end
  return ''
end

local function actionOf(payload)
  return textOf(fieldsOf(payload).action)
end

-- A deleted decision's version is remembered ('gone': key -> version) until the decision would
-- have expired and at most a day (GONE_MEMORY_MS), so that a copy of it produced before the
-- deletion but read after it does not bring it back: the store writer produces a decision again
-- when it keeps it over a record that must not replace it (an operator's decision after the
-- decider's records; a decision after an older owner's late record), and the operator or the
-- decider may delete it meanwhile. Only guarded puts are checked (manual decisions, and the
-- writer's copies): manual versions come from the wall clock and only go up, while the decider
-- numbers a decision made after a lift by its evidence's event time, which may be a little
-- before the lifted one's (late input), so its own new decisions must never be refused.
local GONE_MEMORY_MS = 86400000
local function rememberGone(key, versionText)
  local expiresAt = tonumber(redis.call('ZSCORE', exp, key))
  local untilMs = now + GONE_MEMORY_MS
  if expiresAt and expiresAt < untilMs then untilMs = expiresAt end
  if untilMs <= now then return end
  local known = redis.call('HGET', gone, key)
  if known and tonumber(known) >= tonumber(versionText) then return end
  redis.call('HSET', gone, key, versionText)
  redis.call('ZADD', gonex, string.format('%d', untilMs), key)
end

local function removeDecision(key, reason)
  local payload = redis.call('HGET', data, key)
  if not payload then return 0 end
  local fields = fieldsOf(payload)
  local action = textOf(fields.action)
  local versionText = redis.call('HGET', ver, key)
  if versionText then rememberGone(key, versionText) end
  redis.call('HDEL', data, key)
  redis.call('HDEL', ver, key)
  redis.call('ZREM', exp, key)
  indexRemove(rng, rngof, rlen, key)
  local v = nextVersion()
  logChange(v, 'op', 'del', 'key', key, 'reason', reason, 'action', action)
  return v
end

local function removeAllow(cidr, reason)
  if redis.call('HDEL', allow, cidr) == 0 then return 0 end
  redis.call('ZREM', aexp, cidr)
  indexRemove(aidx, aof, alen, cidr)
  local v = nextVersion()
  logChange(v, 'op', 'disallow', 'key', cidr, 'reason', reason)
  return v
end
`;

/**
 * ARGV[3..] groups of six: key, version, expiresAt, payload JSON, range index field or '', guard
 * ('1' for a manual decision or a copy the store writer produced again, '' otherwise).
 * Returns one change version per decision, 0 where ignored (an older or equal version is stored,
 * or the decision has already expired and nothing older is stored), -1 where refused as a copy of
 * a deleted decision (a guarded put whose version is not above the one deleted; see rememberGone).
 * Several decisions per call make a rebuild cheap; keep batches to a few hundred, as a script
 * blocks Redis while it runs.
 */
export const PUT = `${PRELUDE}
local function putDecision(key, versionText, expiresText, payload, field, guard)
  local current = redis.call('HGET', ver, key)
  if current and tonumber(current) >= tonumber(versionText) then return 0 end
  if guard == '1' then
    local deleted = redis.call('HGET', gone, key)
    if deleted and tonumber(deleted) >= tonumber(versionText) then return -1 end
  end
  if tonumber(expiresText) <= now then
    -- A newer version that has already expired supersedes the stored one: it no longer applies.
    if current then return removeDecision(key, 'expired') end
    return 0
  end
  -- 'previous': the action of the decision this one replaces, '' when none was stored.
  local previous = ''
  if current then previous = actionOf(redis.call('HGET', data, key)) end
  redis.call('HSET', data, key, payload)
  redis.call('HSET', ver, key, versionText)
  redis.call('ZADD', exp, expiresText, key)
  if field ~= '' and not current then indexAdd(rng, rngof, rlen, key, field) end
  local v = nextVersion()
  logChange(v, 'op', 'add', 'key', key, 'decision', payload, 'previous', previous)
  return v
end
local versions = {}
for i = 3, #ARGV, 6 do
  table.insert(versions, putDecision(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]))
end
return versions
`;

/** ARGV[3] key, [4] reason. Returns the change version, or 0 when the key was not stored. */
export const DELETE = `${PRELUDE}
return removeDecision(ARGV[3], ARGV[4])
`;

/**
 * ARGV[3] limit. Deletes up to `limit` expired decisions and up to `limit` expired allowlist
 * entries, logging each, and forgets up to `limit` deleted decisions' versions past their time (not logged:
 * followers never saw them). Returns { decisions removed, allowlist entries removed, versions
 * forgotten }.
 */
export const SWEEP = `${PRELUDE}
local limit = ARGV[3]
local expired = redis.call('ZRANGE', exp, '-inf', nowText, 'BYSCORE', 'LIMIT', '0', limit)
for _, key in ipairs(expired) do removeDecision(key, 'expired') end
local allowExpired = redis.call('ZRANGE', aexp, '-inf', nowText, 'BYSCORE', 'LIMIT', '0', limit)
for _, cidr in ipairs(allowExpired) do removeAllow(cidr, 'expired') end
local forgotten = redis.call('ZRANGE', gonex, '-inf', nowText, 'BYSCORE', 'LIMIT', '0', limit)
for _, field in ipairs(forgotten) do
  redis.call('HDEL', gone, field)
  redis.call('ZREM', gonex, field)
end
return { #expired, #allowExpired, #forgotten }
`;

/**
 * ARGV[3] the address's `ip:` key, [4] family ('4' or '6'), [5] address hex.
 * Returns [key, payload, expiresAt, ...] of the unexpired decisions covering the address.
 */
export const LOOKUP = `${PRELUDE}
local found = {}
local function consider(key)
  local payload = redis.call('HGET', data, key)
  if not payload then return end
  local expiresAt = redis.call('ZSCORE', exp, key)
  if expiresAt and tonumber(expiresAt) > now then
    table.insert(found, key)
    table.insert(found, payload)
  end
end
consider(ARGV[3])
for _, key in ipairs(matchIndex(rng, rlen, ARGV[4], ARGV[5])) do consider(key) end
return found
`;

/** ARGV[3] family, [4] address hex. Returns the unexpired allowlist entries (JSON) holding the address. */
export const ALLOWED = `${PRELUDE}
local found = {}
for _, cidr in ipairs(matchIndex(aidx, alen, ARGV[3], ARGV[4])) do
  local expiresAt = redis.call('ZSCORE', aexp, cidr)
  if expiresAt and tonumber(expiresAt) > now then table.insert(found, redis.call('HGET', allow, cidr)) end
end
return found
`;

/** ARGV[3] cidr, [4] index field, [5] entry JSON, [6] expiresAt or '+inf'. Returns the change version. */
export const ALLOW = `${PRELUDE}
local cidr, field, entry, expiresText = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local existed = redis.call('HEXISTS', allow, cidr) == 1
redis.call('HSET', allow, cidr, entry)
redis.call('ZADD', aexp, expiresText, cidr)
if not existed then indexAdd(aidx, aof, alen, cidr, field) end
local v = nextVersion()
logChange(v, 'op', 'allow', 'key', cidr, 'entry', entry)
return v
`;

/** ARGV[3] cidr, [4] reason. Returns the change version, or 0 when the entry was not stored. */
export const DISALLOW = `${PRELUDE}
return removeAllow(ARGV[3], ARGV[4])
`;

/**
 * Seeds the version counter and the epoch of an empty store, as the first write would (see
 * nextVersion). Returns the epoch. A store that has been rebuilt from topics holding nothing
 * current is then still told apart from one whose Redis lost its data.
 */
export const INITIALIZE = `${PRELUDE}
if redis.call('EXISTS', seq) == 0 then
  local t = redis.call('TIME')
  local seed = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('SET', seq, string.format('%d', seed))
  redis.call('SET', epoch, string.format('%d', seed))
end
return redis.call('GET', epoch)
`;
