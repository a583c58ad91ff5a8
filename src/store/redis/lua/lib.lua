-- Shared helpers of the job scripts: prepended to each of them at load time
-- (see scripts.cc), so every script below starts with this text.
--
-- Convention (docs/redis-store.md has the whole layout):
-- - ARGV[1] is always the collection tag C = "{<collection>}". The keys of
--   the collection slot are C .. ':<kind>' (dir, uniq, seq, queues, ...).
-- - A queue's keys start with its tag Q = "{<collection>:<queue>}" (the
--   queue with '%', '{' and '}' escaped; computed by the client,
--   store/redis/keys.h, and passed in ARGV): Q .. ':<kind>' or
--   Q .. ':<kind>:<name>' with the user-supplied name last.
-- - KEYS[1] is "<tag>:migrating-probe" of the one slot the call touches on
--   a cluster: the client routes by it, and every other key of the call is
--   in that slot (tests/redis/redis_slot_test.cc watches it). On a single
--   node (no slots to respect) some scripts also do the collection slot's
--   part in the same call ('fused' mode, an ARGV flag): the identifier
--   reservation, the id directory, the queue set.
-- Ids are 19-digit zero-padded decimal strings (lexicographic = numeric
-- order) and never become Lua numbers (they exceed 2^53). Times are Unix
-- microseconds, passed as decimal strings; they are compared as Lua numbers,
-- exact below 2^53 (the year 2255).
local C = ARGV[1]

-- Redis Cluster and slot migrations: KEYS[1], the probe, never exists.
-- While its slot is being migrated the owner therefore answers ASK before
-- running anything, and the client waits for the migration to end rather
-- than follow the ASK (common/redis/cluster_router.h): a script touches
-- keys it does not declare, which the importing node would create anew
-- beside the ones still on the migrating node. So a script runs on one
-- node holding every key of its slot, or not at all.

-- Keys are memoized per run: a batch names the same few keys once per job,
-- and a lookup of existing strings costs less than building and interning
-- a new one.
local key_memo = {}
local function k(Q, kind, name)
  local byq = key_memo[Q]
  if not byq then
    byq = {}
    key_memo[Q] = byq
  end
  if name == nil then
    local key = byq[kind]
    if not key then
      key = Q .. ':' .. kind
      byq[kind] = key
    end
    return key
  end
  local named = byq[1]
  if not named then
    named = {}
    byq[1] = named
  end
  local byk = named[kind]
  if not byk then
    byk = {}
    named[kind] = byk
  end
  local key = byk[name]
  if not key then
    key = Q .. ':' .. kind .. ':' .. name
    byk[name] = key
  end
  return key
end
local function jkey(Q, id) return Q .. ':job:' .. id end

-- The member of Q:avail: priority, run_at and id, fixed width, so that
-- lexicographic order is the claim order (priority, run_at, id).
local function avail_member(priority, run_us, id)
  local r = tonumber(run_us)
  if r < 0 then r = 0 end
  return string.format('%010d%016d', tonumber(priority) + 2147483648, r) .. id
end

-- Deferred index writes. The listing indexes (Q:all, n, i, st), the
-- finished and running sets and the counts are never read back by the
-- script that writes them (claims read only `sched` and `avail`, which stay
-- immediate; rescue and cleanup read `running`/`fin` before writing), so a
-- run gathers those writes and applies them at its end with one variadic
-- ZADD/ZREM per key and one HINCRBY per count (flush_then). Per member only
-- the last write counts, which is what applying them in order would leave.
-- Every script that writes returns through flush_then.
local zkeys, zwrites = {}, {}
local function zlater(key, member, score)  -- score false = remove
  local w = zwrites[key]
  if not w then
    w = {order = {}, final = {}}
    zwrites[key] = w
    zkeys[#zkeys + 1] = key
  end
  if w.final[member] == nil then w.order[#w.order + 1] = member end
  w.final[member] = score
end
local function zadd_later(key, score, member) zlater(key, member, score) end
local function zrem_later(key, member) zlater(key, member, false) end

local count_order, count_deltas = {}, {}  -- Q -> state -> delta
local function count(Q, state, delta)
  local d = count_deltas[Q]
  if not d then
    d = {order = {}, n = {}}
    count_deltas[Q] = d
    count_order[#count_order + 1] = Q
  end
  if d.n[state] == nil then
    d.order[#d.order + 1] = state
    d.n[state] = 0
  end
  d.n[state] = d.n[state] + delta
end

-- Field/value writes of one hash gathered into one HSET (the id directory).
local hkeys, hwrites = {}, {}
local function hset_later(key, field, value)
  local w = hwrites[key]
  if not w then
    w = {}
    hwrites[key] = w
    hkeys[#hkeys + 1] = key
  end
  w[#w + 1] = field
  w[#w + 1] = value
end

local CHUNK = 500  -- members per command (unpack() has a stack limit)
local function flush_then(result)
  for _, key in ipairs(zkeys) do
    local w = zwrites[key]
    local add, rem = {}, {}
    for _, member in ipairs(w.order) do
      local score = w.final[member]
      if score then
        add[#add + 1] = score
        add[#add + 1] = member
        if #add == 2 * CHUNK then
          redis.call('ZADD', key, unpack(add))
          add = {}
        end
      else
        rem[#rem + 1] = member
        if #rem == CHUNK then
          redis.call('ZREM', key, unpack(rem))
          rem = {}
        end
      end
    end
    if #add > 0 then redis.call('ZADD', key, unpack(add)) end
    if #rem > 0 then redis.call('ZREM', key, unpack(rem)) end
  end
  zkeys, zwrites = {}, {}
  for _, Q in ipairs(count_order) do
    local d = count_deltas[Q]
    for _, state in ipairs(d.order) do
      if d.n[state] ~= 0 then redis.call('HINCRBY', k(Q, 'counts'), state, d.n[state]) end
    end
  end
  count_order, count_deltas = {}, {}
  for _, key in ipairs(hkeys) do
    local w = hwrites[key]
    for i = 1, #w, 2 * CHUNK do
      redis.call('HSET', key, unpack(w, i, math.min(#w, i + 2 * CHUNK - 1)))
    end
  end
  hkeys, hwrites = {}, {}
  return result
end

-- Moves job `id` of queue Q between the per-state index and counts; sets
-- its state field unless `state_written` (the caller's HSET has it).
-- Running jobs have no Q:st:running: Q:running (by lease expiry) lists
-- them (job_list.lua), which saves a ZADD and a ZREM per attempt.
local function move_state(Q, id, from, to, state_written)
  if from then
    if from ~= 'running' then zrem_later(k(Q, 'st', from), id) end
    count(Q, from, -1)
  end
  if to then
    if to ~= 'running' then zadd_later(k(Q, 'st', to), 0, id) end
    count(Q, to, 1)
    if not state_written then redis.call('HSET', jkey(Q, id), 'state', to) end
  end
end

local FINAL = {completed = true, dead = true, cancelled = true}

local published = {}
local function notify(queue)
  if not published[queue] then
    published[queue] = true
    redis.call('PUBLISH', C .. ':available', queue)
  end
end

-- Takes job `id` out of the set that schedules it in state `state`.
local function unschedule(Q, id, state, priority, run_us)
  if state == 'available' then
    redis.call('ZREM', k(Q, 'avail'), avail_member(priority, run_us, id))
  elseif state == 'scheduled' or state == 'retryable' then
    redis.call('ZREM', k(Q, 'sched'), id)
  elseif state == 'running' then
    zrem_later(k(Q, 'running'), id)
  elseif FINAL[state] then
    zrem_later(k(Q, 'fin', state), id)
  end
end

-- Ends a job in final state `to` at `now`. Its identifier reservation
-- (C:uniq) is not touched: a reservation whose job is final is stale, and
-- the next job with that identifier takes it over (check_holder).
-- `result`, when given, is written in the same HSET.
local function finish(Q, id, from, to, now, result)
  move_state(Q, id, from, to, true)
  if result then
    redis.call('HSET', jkey(Q, id), 'state', to, 'finished_at', now, 'result', result)
  else
    redis.call('HSET', jkey(Q, id), 'state', to, 'finished_at', now)
  end
  zadd_later(k(Q, 'fin', to), now, id)
end

-- Called after a running job ended (ok: completed; else dead or cancelled):
-- nothing for a plain job. workflow_lib.lua, prepended to the scripts that
-- may end a workflow parent, makes it release or cancel the dependants.
local ended = function(Q, id, ok, now) end

local function make_available(Q, queue, id, priority, run_us)
  redis.call('ZADD', k(Q, 'avail'), 0, avail_member(priority, run_us, id))
  notify(queue)
end

local function append_error(Q, id, attempt, now, message)
  local n = redis.call('HINCRBY', jkey(Q, id), 'err_n', 1)
  redis.call('HSET', jkey(Q, id), 'err:' .. n,
             attempt .. '\n' .. now .. '\n' .. message)
end

-- Identifier reservations. C:uniq maps an identifier to the entry
-- "<id>|<token>|<Q>" of the job that reserved it; tokens come from the
-- counter C:seq and only grow. The entry is taken before the job is
-- written in its queue's slot (two steps on a cluster), so it may name a
-- job that does not exist (yet, or ever: the client died in between) or
-- that is final. check_holder decides, in the holder's slot, and revokes
-- the entry's token there when the holder does not hold it (any more): a
-- late insert or requeue under that token is then refused, so two jobs
-- can never both go on to hold the identifier.
local function entry_of(id, token, Q) return id .. '|' .. token .. '|' .. Q end
local function parse_entry(e)
  local bar = string.find(e, '|', 21, true)
  return string.sub(e, 1, 19), string.sub(e, 21, bar - 1), string.sub(e, bar + 1)
end

-- In the holder's slot. Returns 'live', state (a non-final job holds the
-- identifier), 'stale' (final: the token is revoked on the job) or
-- 'missing' (no such job; with `revoke`, the token is revoked in Q:void).
local VOID_MS = 86400000  -- a revocation outlives any in-flight insert
local function check_holder(Q, id, token, revoke)
  local state = redis.call('HGET', jkey(Q, id), 'state')
  if not state then
    if revoke then
      local v = redis.call('GET', k(Q, 'void', id))
      if not v or tonumber(v) < tonumber(token) then
        redis.call('SET', k(Q, 'void', id), token, 'PX', VOID_MS)
      end
    end
    return 'missing'
  end
  if not FINAL[state] then return 'live', state end
  local rev = redis.call('HGET', jkey(Q, id), 'uniq_rev')
  if not rev or tonumber(rev) < tonumber(token) then
    redis.call('HSET', jkey(Q, id), 'uniq_rev', token)
  end
  return 'stale'
end

-- Fused mode only (every key reachable): reserves `identifier` for job
-- `id` of Q, or returns the live holder's id and state.
local function reserve_fused(identifier, id, Q)
  local e = redis.call('HGET', C .. ':uniq', identifier)
  if e then
    local hid, htoken, hq = parse_entry(e)
    if hid ~= id then
      local r, state = check_holder(hq, hid, htoken, true)
      if r == 'live' then return nil, hid, state end
    end
  end
  local token = redis.call('INCR', C .. ':seq')
  redis.call('HSET', C .. ':uniq', identifier, entry_of(id, token, Q))
  return token
end

-- Forgets deleted (or never stored) jobs in the collection slot: their
-- directory entries, and their identifier reservations where C:uniq still
-- names them. `jobs`: a list of {id, identifier}. Fused mode, or
-- job_forget.lua.
local function forget_jobs(jobs)
  for i = 1, #jobs, CHUNK do
    local ids = {}
    for j = i, math.min(#jobs, i + CHUNK - 1) do ids[#ids + 1] = jobs[j][1] end
    redis.call('HDEL', C .. ':dir', unpack(ids))
  end
  for _, job in ipairs(jobs) do
    if job[2] ~= '' then
      local e = redis.call('HGET', C .. ':uniq', job[2])
      if e and string.sub(e, 1, 19) == job[1] then
        redis.call('HDEL', C .. ':uniq', job[2])
      end
    end
  end
end

-- Writes one new job of queue Q (name `queue`) from the JOB_FIELDS values
-- of ARGV starting at `at` (id, name, identifier, data, priority,
-- max_attempts, run_at, timeout, backoff, token, metadata). The caller has
-- checked the id and the identifier. Returns the initial state. A job
-- without metadata ('') gets no 'meta' field, and no second HSET.
local JOB_FIELDS = 11
local function insert_job(Q, queue, at, now)
  local id, name, identifier = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local data, priority, max_attempts = ARGV[at + 3], ARGV[at + 4], ARGV[at + 5]
  local run_us, timeout_us, backoff_us = ARGV[at + 6], ARGV[at + 7], ARGV[at + 8]
  local state = 'available'
  if tonumber(run_us) > tonumber(now) then state = 'scheduled' end
  redis.call('HSET', jkey(Q, id), 'id', id, 'state', state, 'queue', queue,
             'name', name, 'identifier', identifier, 'data', data,
             'priority', priority, 'attempt', '0', 'max_attempts', max_attempts,
             'run_at', run_us, 'created_at', now, 'progress', '0',
             'timeout', timeout_us, 'backoff', backoff_us, 'err_n', '0',
             'cancel', '0', 'lease_token', '0', 'worker_id', '')
  if ARGV[at + 10] ~= '' then redis.call('HSET', jkey(Q, id), 'meta', ARGV[at + 10]) end
  zadd_later(k(Q, 'all'), 0, id)
  zadd_later(k(Q, 'n', name), 0, id)
  if identifier ~= '' then zadd_later(k(Q, 'i', identifier), 0, id) end
  move_state(Q, id, nil, state, true)
  if state == 'available' then
    make_available(Q, queue, id, priority, run_us)
  else
    redis.call('ZADD', k(Q, 'sched'), run_us, id)
  end
  return state
end

-- Non-fused mode: whether the reservation `token` of new job `id` was
-- revoked (its holder check found the job missing) before it got here.
local function insert_revoked(Q, id, token)
  local v = redis.call('GET', k(Q, 'void', id))
  return v ~= false and tonumber(v) >= tonumber(token)
end

-- Removes job `id` of Q and every index entry of it. Returns its
-- identifier, or nil if it does not exist.
local function delete_job(Q, id)
  local f = redis.call('HMGET', jkey(Q, id), 'state', 'name', 'identifier',
                       'priority', 'run_at')
  if not f[1] then return nil end
  local state, name, identifier = f[1], f[2], f[3]
  unschedule(Q, id, state, f[4], f[5])
  if state ~= 'running' then zrem_later(k(Q, 'st', state), id) end
  count(Q, state, -1)
  zrem_later(k(Q, 'all'), id)
  zrem_later(k(Q, 'n', name), id)
  if identifier ~= '' then zrem_later(k(Q, 'i', identifier), id) end
  redis.call('DEL', jkey(Q, id))
  return identifier
end
