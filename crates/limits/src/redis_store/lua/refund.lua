-- Gives time back to one GCRA bucket, never making it fuller than an idle one.
--
-- KEYS[1]  the bucket (tat in µs)
-- ARGV[1]  now, in µs
-- ARGV[2]  time to give back, in µs
local stored = redis.call('GET', KEYS[1])
if not stored then
  return 0
end
local now = tonumber(ARGV[1])
local tat = tonumber(stored) - tonumber(ARGV[2])
if tat > now then
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
else
  redis.call('DEL', KEYS[1])
end
return 0
