-- GCRA (core/algo_gcra.go). State: 'g' and the theoretical arrival time.
-- Written without helper functions (see helpers.lua): the floor division
-- is left(), the only closure, and the state is read and the expiry
-- computed in line.
local t = tonumber(ARGV[4])     -- emission interval
local burst = tonumber(ARGV[5])
local tau = burst * t
local tat = 0
-- A missing key, another algorithm's state or a key of another type (GET
-- fails: pcall) reads as a new key.
local v = redis.pcall('GET', key)
if type(v) == 'string' and string.byte(v, 1) == 103 then -- 'g'
  tat = tonumber(string.sub(v, 2)) or 0
end
local used = math.max(tat - now, 0)
-- left is floor((tau - u)/t), exact even where the quotient rounds up to a
-- whole number.
local function left(u)
  local a = tau - u
  local q = math.floor(a / t)
  if q * t > a then q = q - 1 elseif (q + 1) * t <= a then q = q + 1 end
  return q
end
-- decide: the state is read; settle scripts run their part here.

if cost > burst then return {2, left(used), used, 0} end
local after = used + math.max(cost, 1) * t
if after > tau then return {0, left(used), used, after - tau} end
if cost == 0 then return {1, left(used), used, 0} end
-- Expire when the state is whole again: after µs, in whole ms rounded up.
redis.call('SET', key, string.format('g%d', now + after), 'PX', math.max(math.ceil(after / 1000), 1) + grace)
return {1, left(after), after, 0}
