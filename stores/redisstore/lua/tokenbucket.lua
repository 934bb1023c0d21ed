-- Token bucket (core/algo_tokenbucket.go). State: 't', the deficit, the
-- instant of the last write and the period it was written under (absent in
-- state written before it was kept: read as this period). One token is
-- period units and rate units refill per microsecond; the store divides
-- both by their greatest common divisor, which decides the same and keeps
-- the numbers small.
local period = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local capacity = burst * period
local deficit, last, per = 0, 0, period
local v = field('t')
if v then
  local d, l, p = string.match(v, '^t(%-?%d+):(%-?%d+):?(%d*)$')
  if d then deficit, last, per = tonumber(d), tonumber(l), tonumber(p) or period end
end
-- Written under another limit (a key moving between tiers): the tokens
-- missing carry over, deficit×period/per rounded up; past 2^53, where
-- doubles skip integers, rounded up by a margin and capped (a wait of
-- centuries).
if per ~= period and per > 0 and deficit > 0 then
  local x = deficit * period
  if x < 9007199254740992 then
    deficit = cdiv(x, per)
  else
    deficit = math.min(math.ceil(deficit / per * period * (1 + 2 ^ -40)) + 1, 2 ^ 51)
  end
end

local t, skew = now, 0
if t < last then t, skew = last, last - now end
if deficit > 0 then
  local elapsed = t - last
  if elapsed >= cdiv(deficit, rate) then deficit = 0 else deficit = deficit - elapsed * rate end
end
local function left(d) return fdiv(capacity - d, period) end
local function refill(d) return cdiv(d, rate) + skew end
-- decide: the state is read; settle scripts run their part here.

if cost > burst then return {2, left(deficit), refill(deficit), 0} end
local over = deficit + math.max(cost, 1) * period - capacity
if over > 0 then return {0, left(deficit), refill(deficit), cdiv(over, rate) + skew} end
if cost == 0 then return {1, left(deficit), refill(deficit), 0} end
deficit = deficit + cost * period
redis.call('SET', key, string.format('t%d:%d:%d', deficit, t, period), 'PX', ttl(refill(deficit)))
return {1, left(deficit), refill(deficit), 0}
