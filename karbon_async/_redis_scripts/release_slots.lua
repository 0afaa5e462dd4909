-- Releasing, shared by the scripts that carry releases (included where they say
-- "@include release_slots.lua"; needs `now`, `per`, `limit` and KEYS slots, queue). Each
-- released slot stays taken until `per` after now (Redis's time as the script runs, after the
-- response arrived); it is (re-)added if Redis lost it, which can only make the count larger.
-- Waiters sleep until the expiry that frees their turn: returns true if a release moved one of
-- those expiries earlier (its new rank is below the last one any waiter is sleeping on), and
-- the caller then publishes a wake-up.
local function release(first, last)
  local wake = false
  for i = first, last do
    redis.call('ZADD', KEYS[1], now + per, ARGV[i])
    local waiting = redis.call('ZCARD', KEYS[2])
    if not wake and waiting > 0 then
      local rank = redis.call('ZRANK', KEYS[1], ARGV[i])
      wake = rank < redis.call('ZCARD', KEYS[1]) - limit + waiting
    end
  end
  return wake
end
