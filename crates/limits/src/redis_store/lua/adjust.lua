-- Adds a (possibly negative) delta to a quota counter, never going below 0.
--
-- KEYS[1]  the counter
-- ARGV[1]  delta
-- ARGV[2]  expiry in seconds, set on this write; 0 keeps the current one
-- ARGV[3]  '1' to create a missing counter from 0, '0' to leave it missing
--
-- Returns the new value as a string, or nil when the counter is missing and was left so.
local stored = redis.call('GET', KEYS[1])
if not stored and ARGV[3] ~= '1' then
  return nil
end
local current = tonumber(stored or '0')
if current == nil then
  return redis.error_reply('quota counter ' .. KEYS[1] .. ' does not hold a number')
end
local value = current + tonumber(ARGV[1])
if value < 0 then
  value = 0
end
local text = string.format('%.0f', value)
redis.call('SET', KEYS[1], text, 'KEEPTTL')
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
end
return text
