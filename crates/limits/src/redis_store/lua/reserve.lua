-- Reserves on every quota counter, only if all exist and none would pass its limit.
--
-- KEYS[i]      counter of rule i
-- ARGV[3i-2]   amount to add
-- ARGV[3i-1]   hard limit; -1 when unlimited
-- ARGV[3i]     expiry in seconds, set on every write; 0 keeps the current one
--
-- Returns one of
--   {0, usage_1, ..., usage_n}               reserved; counters afterwards
--   {1, index, current, limit, requested}    rule `index` (0-based) would pass its limit
--   {2, index}                               rule `index`'s counter does not exist
local pending = {}

for i = 1, #KEYS do
  local key = KEYS[i]
  local amount = tonumber(ARGV[3 * i - 2])
  local limit = tonumber(ARGV[3 * i - 1])
  local current = pending[key]
  if current == nil then
    local stored = redis.call('GET', key)
    if not stored then
      return {2, i - 1}
    end
    current = tonumber(stored)
    if current == nil then
      return redis.error_reply('quota counter ' .. key .. ' does not hold a number')
    end
  end
  if limit >= 0 and current + amount > limit then
    return {1, i - 1, current, limit, amount}
  end
  pending[key] = current + amount
end

local reply = {0}
for i = 1, #KEYS do
  reply[i + 1] = redis.call('INCRBY', KEYS[i], ARGV[3 * i - 2])
  local ttl = tonumber(ARGV[3 * i])
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
return reply
