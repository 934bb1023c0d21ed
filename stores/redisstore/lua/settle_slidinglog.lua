-- Settlement, sliding window log (core/storekit/settle.go). A charge adds
-- entries while the window has room; past it, the oldest entry's slot is
-- renewed for one period from when it frees (a 'd' entry, stamped in the
-- future), until every entry is debt. A refund undoes debt first, newest
-- first (a renewed entry back to its old time, if that still counts), then
-- drops the oldest entries.
if expired > 0 then redis.call('LTRIM', key, expired, -1) end
local function tail()
  local e = redis.call('LINDEX', key, -1)
  if not e then return nil, false end
  if string.byte(e, 1) == 100 then return tonumber(string.sub(e, 2)), true end
  return tonumber(e), false
end
if cost < 0 then
  local back = -cost
  while back > 0 do
    local x, d = tail()
    if not d then break end
    redis.call('RPOP', key)
    back = back - 1
    if x > t then redis.call('LPUSH', key, string.format('%d', x - period)) end
  end
  if back > 0 then redis.call('LTRIM', key, back, -1) end
else
  for i = 1, cost do
    if redis.call('LLEN', key) < rate then
      local stamp = t
      local x, d = tail()
      if d then stamp = math.max(t, x) end
      if stamp > t then
        redis.call('RPUSH', key, string.format('d%d', stamp))
      else
        redis.call('RPUSH', key, string.format('%d', stamp))
      end
    else
      local old = at(0)
      if old > t then break end
      redis.call('LPOP', key)
      redis.call('RPUSH', key, string.format('d%d', old + period))
    end
  end
end
local last = tail()
if last then redis.call('PEXPIRE', key, ttl(math.max(last + period - now, 0))) end
