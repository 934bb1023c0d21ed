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
-- the start of the window, its count and, when it has one, what it carries
-- into the next (debt, settle_fixedwindow.lua). It returns the window now
-- is in (or the later one recorded, if the clock stepped back), its count,
-- the microseconds until it ends, its carry and the start recorded. A key
-- last written in the window before starts with the debt it carried (at
-- most rate).
local function window(period, rate)
  local start, count, carry = 0, 0, 0
  local v = field('f')
  if v then
    local a, b, c = string.match(v, '^f(%-?%d+):(%-?%d+):?(%-?%d*)$')
    if a then start, count, carry = tonumber(a), tonumber(b), tonumber(c) or 0 end
  end
  local w = fdiv(now, period) * period
  if start > w then
    w = start
  elseif start == w - period and carry > 0 then
    count, carry = math.min(carry, rate), 0
  elseif start < w then
    count, carry = 0, 0
  end
  return w, count, w + period - now, carry, start
end

-- fstate writes a fixed window's state, with its carry when it has one,
-- to last until the window ends (or the next one, carrying debt into it).
local function fstate(w, count, carry, untl, period)
  if carry > 0 then
    redis.call('SET', key, string.format('f%d:%d:%d', w, count, carry), 'PX', ttl(untl + period))
  else
    redis.call('SET', key, string.format('f%d:%d', w, count), 'PX', ttl(untl))
  end
end
