-- KEYS: slots, queue; ARGV: per_ms, channel, requests, sender, member... (this process's
-- releases gathered while no waiter of it needed a grant script call to carry them).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local per = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])

-- @include release_slots.lua

if release(5, #ARGV) then redis.call('PUBLISH', ARGV[2], ARGV[4]) end
return 0
