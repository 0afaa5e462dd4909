-- KEYS: slots, state; ARGV: gen_candidate, per_ms, cooldown_ms, then (member, remaining_ms)
-- pairs. Writes this process's slots back (after an outage or a restart) and returns the gen.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local cd = tonumber(redis.call('HGET', KEYS[2], 'cooldown') or '0')
local gen = redis.call('HGET', KEYS[2], 'gen')
if not gen then
  gen = ARGV[1]
  redis.call('HSET', KEYS[2], 'gen', gen)
  cd = math.max(cd, now + tonumber(ARGV[2]))
end
cd = math.max(cd, now + tonumber(ARGV[3]))
redis.call('HSET', KEYS[2], 'cooldown', tostring(math.ceil(cd)))
for i = 4, #ARGV, 2 do
  local score = now + tonumber(ARGV[i + 1])
  local old = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not old or tonumber(old) < score then redis.call('ZADD', KEYS[1], score, ARGV[i]) end
end
return gen
