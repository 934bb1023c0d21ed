-- Fixed window (core/storekit/algo_fixedwindow.go). State: 'f', the start
-- of the window, the count admitted in it and, when it carries debt into
-- the next window, that carry.
local period = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
local w, count, untl, carry, start = window(period, rate)
local function reset(c)
  if carry > 0 then return untl + period end
  if c == 0 then return 0 end
  return untl
end
-- decide: the state is read; settle scripts run their part here.

if cost > rate then return {2, rate - count, reset(count), 0} end
if count + math.max(cost, 1) > rate then
  local wait = untl
  if carry + math.max(cost, 1) > rate then wait = wait + period end
  return {0, rate - count, reset(count), wait}
end
if cost == 0 then return {1, rate - count, reset(count), 0} end
count = count + cost
fstate(w, count, carry, untl, period)
return {1, rate - count, math.max(untl, reset(count)), 0}
