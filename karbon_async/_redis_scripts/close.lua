-- KEYS: slots, queue, tickets; ARGV: this process's ticket prefix, channel, per_ms, requests,
-- n_release, release..., keep... First writes the releases not yet written. Then removes this
-- process's tickets, and its slots scored more than `per` ahead: those are grants whose reply
-- never arrived (their request was never sent). Slots of sent requests score at most `per`
-- ahead once released and are kept; the caller keeps its in-flight slots out of the prefix
-- match by listing them (keep, and the releases). Wakes the other processes when anything was
-- removed or a release moved an expiry they sleep on.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local prefix = ARGV[1]
local per = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])

-- @include release_slots.lua

local nrelease = tonumber(ARGV[5])
local wake = release(6, 5 + nrelease)
local keep = {}
for i = 6, #ARGV do keep[ARGV[i]] = true end
local removed = 0
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if string.sub(member, 1, #prefix) == prefix then
      removed = removed + redis.call('ZREM', key, member)
    end
  end
end
-- %.17g: Lua's default number format keeps 14 digits, a tenth of a millisecond here
local ahead = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%.17g', now + per), '+inf')
for _, member in ipairs(ahead) do
  if string.sub(member, 1, #prefix) == prefix and not keep[member] then
    removed = removed + redis.call('ZREM', KEYS[1], member)
  end
end
if removed > 0 or wake then redis.call('PUBLISH', ARGV[2], prefix) end
return removed
