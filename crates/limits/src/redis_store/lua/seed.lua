-- Sets a quota counter only if it does not exist; returns the value it now holds.
--
-- KEYS[1]  the counter
-- ARGV[1]  value to set
-- ARGV[2]  expiry in seconds; 0 = none
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  local ttl = tonumber(ARGV[2])
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[1], ttl)
  end
  return ARGV[1]
end
return redis.call('GET', KEYS[1])
