-- Sliding window counter (core/algo_sliding.go). State: 's', the start of
-- the current window, its count and the previous window's count.
local period = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
local a, b, c = 0, 0, 0
local v = field('s')
if v then
  local x, y, z = string.match(v, '^s(%-?%d+):(%-?%d+):(%-?%d+)$')
  if x then a, b, c = tonumber(x), tonumber(y), tonumber(z) end
end

-- mulDiv returns ⌊x×y/z⌋ and the remainder, for 0 ≤ x and 0 ≤ y ≤ z < 2^51
-- (the store caps rate and period at 2^50). Go takes the product in 128 bits;
-- here, when x×y is past 2^53, where doubles skip integers, x is fed in bit
-- by bit, keeping q×z + r = (the bits of x so far)×y with r < z.
local function mulDiv(x, y, z)
  if x * y < 9007199254740992 then
    local p = x * y
    local q = fdiv(p, z)
    return q, p - q * z
  end
  local qy, ry = 0, y
  if y == z then qy, ry = 1, 0 end
  local q, r, bit = 0, 0, 1
  while bit * 2 <= x do bit = bit * 2 end
  while bit >= 1 do
    q, r = q * 2, r * 2
    if r >= z then q, r = q + 1, r - z end
    if x >= bit then
      x = x - bit
      q, r = q + qy, r + ry
      if r >= z then q, r = q + 1, r - z end
    end
    bit = bit / 2
  end
  return q, r
end
local function mulDivCeil(x, y, z)
  local q, r = mulDiv(x, y, z)
  if r > 0 then return q + 1 end
  return q
end
-- mulDivFloor is ⌊x×y/z⌋ for 0 ≤ x < z: mulDiv with the factors swapped.
local function mulDivFloor(x, y, z) return (mulDiv(y, x, z)) end

local t, skew = now, 0
if t < a then t, skew = a, a - now end
local w = fdiv(t, period) * period
local cur, prev = 0, 0
if a == w then cur, prev = b, c elseif a == w - period then prev = b end
local e = t - w
local used = cur + mulDivCeil(prev, period - e, period)
local function reset(cur)
  if cur > 0 then return w + 2 * period - t + skew end
  if prev > 0 then return w + period - t + skew end
  return 0
end
local function wait(n)
  local k = rate - n - cur
  if k >= 0 and prev > k then return period - mulDivFloor(k, period, prev) - e end
  k = rate - n
  if cur <= k then return period - e end
  return period - e + period - mulDivFloor(k, period, cur)
end
-- decide: the state is read; settle scripts run their part here.

if cost > rate then return {2, rate - used, reset(cur), 0} end
local probe = math.max(cost, 1)
if used + probe > rate then return {0, rate - used, reset(cur), wait(probe) + skew} end
if cost == 0 then return {1, rate - used, reset(cur), 0} end
cur = cur + cost
redis.call('SET', key, string.format('s%d:%d:%d', w, cur, prev), 'PX', ttl(reset(cur)))
return {1, rate - used - cost, reset(cur), 0}
