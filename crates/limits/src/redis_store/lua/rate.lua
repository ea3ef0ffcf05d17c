-- Checks every GCRA rule of one request and consumes all of them only if all admit it.
--
-- KEYS[i]      bucket of rule i, holding its theoretical arrival time (tat) in µs
-- ARGV[1]      now, in µs
-- ARGV[2i]     rule i's period, in µs
-- ARGV[2i+1]   time this request adds to rule i's bucket, in µs; -1 when its cost
--              exceeds the limit (it can never fit)
--
-- Returns {allowed (1/0), fill_1, ..., fill_n}, fill_i being max(tat, now) - now of
-- rule i's bucket before this request (earlier rules of the request on the same key
-- included). The caller derives every status from these numbers.
local now = tonumber(ARGV[1])
local allowed = 1
local pending = {}
local reply = {0}

for i = 1, #KEYS do
  local key = KEYS[i]
  local period = tonumber(ARGV[2 * i])
  local step = tonumber(ARGV[2 * i + 1])
  local tat = pending[key]
  if tat == nil then
    tat = tonumber(redis.call('GET', key) or now)
    if tat == nil then
      return redis.error_reply('rate bucket ' .. key .. ' does not hold a number')
    end
  end
  if tat < now then
    tat = now
  end
  reply[i + 1] = tat - now
  if step < 0 then
    allowed = 0
  else
    tat = tat + step
    if tat - now > period then
      allowed = 0
    end
  end
  pending[key] = tat
end

if allowed == 1 then
  for key, tat in pairs(pending) do
    if tat > now then
      -- '%.0f' keeps all digits; tostring() would round to 14 significant ones.
      redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
    else
      redis.call('DEL', key)
    end
  end
end

reply[1] = allowed
return reply
