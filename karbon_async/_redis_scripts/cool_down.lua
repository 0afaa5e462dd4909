-- KEYS: state; ARGV: seconds_ms. The shared cool-down end only ever moves later.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local cd = tonumber(redis.call('HGET', KEYS[1], 'cooldown') or '0')
local new = math.max(cd, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'cooldown', tostring(math.ceil(new)))
return math.ceil(new - now)
