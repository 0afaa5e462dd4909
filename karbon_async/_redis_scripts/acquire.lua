-- Granting, ticket queue and fairness. Times are milliseconds of Redis's clock.
-- KEYS: slots (zset member -> expiry), queue (zset ticket -> order), tickets (zset ticket ->
--       expiry), state (hash: gen, seq, cooldown)
-- ARGV: requests, lease_ms, ticket_ttl_ms, per_ms, channel, known_gen, gen_candidate,
--       has_mirror (0/1), sender, n_cancel, cancel..., n_release, release..., then
--       (ticket, lane) pairs
-- Reply: {status, gen, wait_ms, in_window, cooldown_ms, granted...}; status 0 = ok,
--        1 = Redis lost its data: the caller re-writes its slots first (nothing granted or
--        released). Wake-ups carry `sender`: a process ignores its own, whose reply it has.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local per = tonumber(ARGV[4])
local known = ARGV[6]

-- @include release_slots.lua

local has_mirror = ARGV[8] == '1'
local gen = redis.call('HGET', KEYS[4], 'gen')
if not gen then
  gen = ARGV[7]
  redis.call('HSET', KEYS[4], 'gen', gen)
  if known ~= '' or has_mirror then
    local cd = tonumber(redis.call('HGET', KEYS[4], 'cooldown') or '0')
    redis.call('HSET', KEYS[4], 'cooldown', tostring(math.ceil(math.max(cd, now + per))))
  end
end
if has_mirror and known ~= gen then
  return {1, gen, 0, 0, 0}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local changed = false
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, ticket in ipairs(dead) do
  redis.call('ZREM', KEYS[2], ticket)
  redis.call('ZREM', KEYS[3], ticket)
  changed = true
end
local ncancel = tonumber(ARGV[10])
for i = 11, 10 + ncancel do
  local a = redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('ZREM', KEYS[3], ARGV[i])
  local b = redis.call('ZREM', KEYS[1], ARGV[i])
  if a + b > 0 then changed = true end
end
local nrelease = tonumber(ARGV[11 + ncancel])
local wake = release(12 + ncancel, 11 + ncancel + nrelease)
local mine = {}
for i = 12 + ncancel + nrelease, #ARGV, 2 do
  local ticket = ARGV[i]
  mine[ticket] = true
  if not redis.call('ZSCORE', KEYS[2], ticket) then
    local seq = redis.call('HINCRBY', KEYS[4], 'seq', 1)
    redis.call('ZADD', KEYS[2], tonumber(ARGV[i + 1]) * 281474976710656 + seq, ticket)
  end
  redis.call('ZADD', KEYS[3], now + ttl, ticket)
end
local cd = tonumber(redis.call('HGET', KEYS[4], 'cooldown') or '0')
local count = redis.call('ZCARD', KEYS[1])
if cd > now then
  return {0, gen, math.ceil(cd - now), count, math.ceil(cd - now)}
end
local granted = {}
if count < limit then
  local head = redis.call('ZRANGE', KEYS[2], 0, limit - count - 1)
  for _, ticket in ipairs(head) do
    if mine[ticket] then
      redis.call('ZADD', KEYS[1], now + lease, ticket)
      redis.call('ZREM', KEYS[2], ticket)
      redis.call('ZREM', KEYS[3], ticket)
      granted[#granted + 1] = ticket
    end
  end
  count = count + #granted
end
local wait
if count >= limit then
  -- our first ticket at rank r needs r + 1 slots to free up: sleep until the expiry that
  -- frees the last of them (a release that moves it earlier publishes a wake-up)
  local r = nil
  for ticket, _ in pairs(mine) do
    local rank = redis.call('ZRANK', KEYS[2], ticket)
    if rank and (r == nil or rank < r) then r = rank end
  end
  local e = math.min(count - limit + (r or 0), count - 1)
  local nth = redis.call('ZRANGE', KEYS[1], e, e, 'WITHSCORES')
  wait = tonumber(nth[2]) - now
else
  wait = ttl
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if first[2] then wait = math.min(wait, tonumber(first[2]) - now) end
end
if wake or ((#granted > 0 or changed) and count < limit and redis.call('ZCARD', KEYS[2]) > 0) then
  redis.call('PUBLISH', ARGV[5], ARGV[9])
end
wait = math.min(wait, ttl / 3)  -- keep our tickets alive
local reply = {0, gen, math.max(0, math.ceil(wait)), count, 0}
for _, ticket in ipairs(granted) do reply[#reply + 1] = ticket end
return reply
