-- Token bucket (core/algo_tokenbucket.go). State: 't', the deficit and the
-- instant of the last write. One token is period units and rate units refill
-- per microsecond; the store divides both by their greatest common divisor,
-- which decides the same and keeps the numbers small.
local period = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local capacity = burst * period
local deficit, last = 0, 0
local v = field('t')
if v then
  local d, l = string.match(v, '^t(%-?%d+):(%-?%d+)$')
  if d then deficit, last = tonumber(d), tonumber(l) end
end

local t, skew = now, 0
if t < last then t, skew = last, last - now end
if deficit > 0 then
  local elapsed = t - last
  if elapsed >= cdiv(deficit, rate) then deficit = 0 else deficit = deficit - elapsed * rate end
end
local function left(d) return fdiv(capacity - d, period) end
local function refill(d) return cdiv(d, rate) + skew end

if cost > burst then return {2, left(deficit), refill(deficit), 0} end
local over = deficit + math.max(cost, 1) * period - capacity
if over > 0 then return {0, left(deficit), refill(deficit), cdiv(over, rate) + skew} end
if cost == 0 then return {1, left(deficit), refill(deficit), 0} end
deficit = deficit + cost * period
redis.call('SET', key, string.format('t%d:%d', deficit, t), 'PX', ttl(refill(deficit)))
return {1, left(deficit), refill(deficit), 0}
