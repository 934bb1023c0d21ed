-- Fixed window (core/algo_fixedwindow.go). State: 'f', the start of the
-- window and the count admitted in it.
local period = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
local start, count = 0, 0
local v = field('f')
if v then
  local a, b = string.match(v, '^f(%-?%d+):(%-?%d+)$')
  if a then start, count = tonumber(a), tonumber(b) end
end

local w = fdiv(now, period) * period
if start < w then count = 0 elseif start > w then w = start end
local untl = w + period - now
local function reset(c) if c == 0 then return 0 end return untl end

if cost > rate then return {2, rate - count, reset(count), 0} end
if count + math.max(cost, 1) > rate then return {0, rate - count, reset(count), untl} end
if cost == 0 then return {1, rate - count, reset(count), 0} end
count = count + cost
redis.call('SET', key, string.format('f%d:%d', w, count), 'PX', ttl(untl))
return {1, rate - count, untl, 0}
