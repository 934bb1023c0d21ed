-- Sliding window log (core/storekit/algo_log.go). State: a list of the
-- instants of admitted events, oldest first (an event of cost n is n
-- entries). An entry at ts counts while now - ts < period. An entry written
-- 'd' and an instant is debt (settle_slidinglog.lua): a slot renewed to the
-- instant it frees, so stamped in the future when written; while the
-- newest entry is one, it says nothing about the clock.
local period = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
local n = redis.pcall('LLEN', key)
if type(n) ~= 'number' then
  -- Another algorithm's state under this key: start afresh, as a new key.
  redis.call('DEL', key)
  n = 0
end
local function at(i)
  local e = redis.call('LINDEX', key, i)
  if string.byte(e, 1) == 100 then e = string.sub(e, 2) end -- 'd'
  return tonumber(e)
end

local t, skew, newest, debt = now, 0, 0, false
if n > 0 then
  local e = redis.call('LINDEX', key, -1)
  debt = string.byte(e, 1) == 100
  newest = at(-1)
  if t < newest and not debt then t, skew = newest, newest - now end
end
-- The entries are sorted: binary search for the first that still counts.
local lo, hi = 0, n
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  if at(mid) <= t - period then lo = mid + 1 else hi = mid end
end
local expired = lo
local used = n - expired
local reset = 0
if used > 0 then reset = newest + period - t + skew end
-- decide: the state is read; settle scripts run their part here.

if cost > rate then return {2, rate - used, reset, 0} end
local over = used + math.max(cost, 1) - rate
if over > 0 then return {0, rate - used, reset, at(expired + over - 1) + period - t + skew} end
if cost == 0 then return {1, rate - used, reset, 0} end
if expired > 0 then redis.call('LTRIM', key, expired, -1) end
local stamp = string.format('%d', t)
local batch = {}
for i = 1, cost do
  batch[#batch + 1] = stamp
  if #batch == 512 or i == cost then
    redis.call('RPUSH', key, unpack(batch))
    batch = {}
  end
end
redis.call('PEXPIRE', key, ttl(period + skew))
return {1, rate - used - cost, period + skew, 0}
