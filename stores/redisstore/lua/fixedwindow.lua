-- Fixed window (core/algo_fixedwindow.go). State: 'f', the start of the
-- window and the count admitted in it.
local period = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
local w, count, untl = window(period)
local function reset(c) if c == 0 then return 0 end return untl end

if cost > rate then return {2, rate - count, reset(count), 0} end
if count + math.max(cost, 1) > rate then return {0, rate - count, reset(count), untl} end
if cost == 0 then return {1, rate - count, reset(count), 0} end
count = count + cost
redis.call('SET', key, string.format('f%d:%d', w, count), 'PX', ttl(untl))
return {1, rate - count, untl, 0}
