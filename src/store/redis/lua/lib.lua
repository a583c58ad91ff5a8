-- Shared helpers of the job scripts: prepended to each of them at load time
-- (see scripts.cc), so every script below starts with this text.
--
-- Convention: ARGV[1] is always the store's hash tag T = "{<prefix>}", and
-- every key a script touches is T .. ":<kind>" or T .. ":<kind>:<name>" with
-- the user-supplied name (queue, job name, identifier, ...) last. KEYS[1] is
-- always T .. ":all", declared so that Redis Cluster routes the call to the
-- slot of T, which every other key shares (docs/redis-store.md).
-- Ids are 19-digit zero-padded decimal strings (lexicographic = numeric
-- order) and never become Lua numbers (they exceed 2^53). Times are Unix
-- microseconds, passed as decimal strings; they are compared as Lua numbers,
-- exact below 2^53 (the year 2255).
local T = ARGV[1]

-- Redis Cluster: while the slot of T is being migrated, the first access to
-- a key this node no longer (or not yet) holds fails the script ("Script
-- attempted to access a non local key"). This probe of a key that never
-- exists makes that first access come before any write, so a refused
-- script has changed nothing and the client may send it again
-- (common/redis/cluster_router.h). Elsewhere it costs one EXISTS.
redis.call('EXISTS', T .. ':migrating-probe')

local function k(kind, name)
  if name == nil then return T .. ':' .. kind end
  return T .. ':' .. kind .. ':' .. name
end
local function jkey(id) return T .. ':job:' .. id end

-- The member of T:avail:<queue>: priority, run_at and id, fixed width, so
-- that lexicographic order is the claim order (priority, run_at, id).
local function avail_member(priority, run_us, id)
  local r = tonumber(run_us)
  if r < 0 then r = 0 end
  return string.format('%010d%016d', tonumber(priority) + 2147483648, r) .. id
end

-- Deferred index writes. The listing indexes (T:all, q, n, i, st), the
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

local count_fields, count_deltas = {}, {}
local function count(state, queue, delta)
  local field = state .. '|' .. queue
  if count_deltas[field] == nil then
    count_fields[#count_fields + 1] = field
    count_deltas[field] = 0
  end
  count_deltas[field] = count_deltas[field] + delta
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
  for _, field in ipairs(count_fields) do
    if count_deltas[field] ~= 0 then
      redis.call('HINCRBY', T .. ':counts', field, count_deltas[field])
    end
  end
  count_fields, count_deltas = {}, {}
  return result
end

-- Moves job `id` of `queue` between the per-state index and counts; sets
-- its state field unless `state_written` (the caller's HSET has it).
local function move_state(id, queue, from, to, state_written)
  if from then
    zrem_later(k('st', from), id)
    count(from, queue, -1)
  end
  if to then
    zadd_later(k('st', to), 0, id)
    count(to, queue, 1)
    if not state_written then redis.call('HSET', jkey(id), 'state', to) end
  end
end

local FINAL = {completed = true, dead = true, cancelled = true}

local function release_identifier(identifier, id)
  if identifier ~= '' and redis.call('HGET', T .. ':uniq', identifier) == id then
    redis.call('HDEL', T .. ':uniq', identifier)
  end
end

local published = {}
local function notify(queue)
  if not published[queue] then
    published[queue] = true
    redis.call('PUBLISH', T .. ':available', queue)
  end
end

-- Takes job `id` out of the set that schedules it in state `state`.
local function unschedule(id, state, queue, priority, run_us)
  if state == 'available' then
    redis.call('ZREM', k('avail', queue), avail_member(priority, run_us, id))
  elseif state == 'scheduled' or state == 'retryable' then
    redis.call('ZREM', k('sched', queue), id)
  elseif state == 'running' then
    zrem_later(T .. ':running', id)
  elseif FINAL[state] then
    zrem_later(k('fin', state), id)
  end
end

-- Ends a job in final state `to` at `now`.
local function finish(id, queue, identifier, from, to, now)
  move_state(id, queue, from, to, true)
  redis.call('HSET', jkey(id), 'state', to, 'finished_at', now)
  zadd_later(k('fin', to), now, id)
  release_identifier(identifier, id)
end

local function make_available(id, queue, priority, run_us)
  redis.call('ZADD', k('avail', queue), 0, avail_member(priority, run_us, id))
  notify(queue)
end

local function append_error(id, attempt, now, message)
  local n = redis.call('HINCRBY', jkey(id), 'err_n', 1)
  redis.call('HSET', jkey(id), 'err:' .. n,
             attempt .. '\n' .. now .. '\n' .. message)
end

-- Inserts one job unless a non-final job holds its identifier.
-- f: the NEW_JOB_FIELDS values of ARGV starting at index `at`.
-- Returns {id, inserted (0/1), state}.
local NEW_JOB_FIELDS = 10
local function insert_job(at, now)
  local id, queue, name, identifier = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local data, priority, max_attempts = ARGV[at + 4], ARGV[at + 5], ARGV[at + 6]
  local run_us, timeout_us, backoff_us = ARGV[at + 7], ARGV[at + 8], ARGV[at + 9]
  if identifier ~= '' then
    local holder = redis.call('HGET', T .. ':uniq', identifier)
    if holder then
      return {holder, 0, redis.call('HGET', jkey(holder), 'state')}
    end
    redis.call('HSET', T .. ':uniq', identifier, id)
    zadd_later(k('i', identifier), 0, id)
  end
  local state = 'available'
  if tonumber(run_us) > tonumber(now) then state = 'scheduled' end
  redis.call('HSET', jkey(id), 'id', id, 'state', state, 'queue', queue, 'name', name,
             'identifier', identifier, 'data', data, 'priority', priority,
             'attempt', '0', 'max_attempts', max_attempts, 'run_at', run_us,
             'created_at', now, 'progress', '0', 'timeout', timeout_us,
             'backoff', backoff_us, 'err_n', '0', 'cancel', '0',
             'lease_token', '0', 'worker_id', '')
  zadd_later(T .. ':all', 0, id)
  zadd_later(k('q', queue), 0, id)
  zadd_later(k('n', name), 0, id)
  move_state(id, queue, nil, state, true)
  if state == 'available' then
    make_available(id, queue, priority, run_us)
  else
    redis.call('ZADD', k('sched', queue), run_us, id)
  end
  return {id, 1, state}
end

-- Removes job `id` and every index entry of it. False if it does not exist.
local function delete_job(id)
  local f = redis.call('HMGET', jkey(id), 'state', 'queue', 'name',
                       'identifier', 'priority', 'run_at')
  if not f[1] then return false end
  local state, queue, name, identifier = f[1], f[2], f[3], f[4]
  unschedule(id, state, queue, f[5], f[6])
  zrem_later(k('st', state), id)
  count(state, queue, -1)
  zrem_later(T .. ':all', id)
  zrem_later(k('q', queue), id)
  zrem_later(k('n', name), id)
  if identifier ~= '' then
    zrem_later(k('i', identifier), id)
    release_identifier(identifier, id)
  end
  redis.call('DEL', jkey(id))
  return true
end
