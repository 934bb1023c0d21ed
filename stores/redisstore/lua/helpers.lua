-- tollgate: helpers for every script but GCRA's, which has its few steps
-- inline: Lua makes a closure of each local function on every call, and
-- GCRA, the default, is the script that runs most.

-- fdiv is floor(a/b) for b > 0; the correction steps make it exact even
-- where a/b rounds up to a whole number.
local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function cdiv(a, b) return -fdiv(-a, b) end

-- ttl is the expiry of a state that lapses us microseconds from now.
local function ttl(us) return math.max(cdiv(us, 1000), 1) + grace end

-- field reads a string state tagged with the algorithm's letter; a missing
-- key, another algorithm's state or a key of another type reads as nil.
local function field(tag)
  local v = redis.pcall('GET', key)
  if type(v) ~= 'string' or string.sub(v, 1, 1) ~= tag then return nil end
  return v
end

-- window reads a fixed window's state (fixedwindow.lua, grant.lua): 'f',
-- the start of the window and its count. It returns the window now is in
-- (or the later one recorded, if the clock stepped back), its count, and
-- the microseconds until it ends.
local function window(period)
  local start, count = 0, 0
  local v = field('f')
  if v then
    local a, b = string.match(v, '^f(%-?%d+):(%-?%d+)$')
    if a then start, count = tonumber(a), tonumber(b) end
  end
  local w = fdiv(now, period) * period
  if start < w then count = 0 elseif start > w then w = start end
  return w, count, w + period - now
end
