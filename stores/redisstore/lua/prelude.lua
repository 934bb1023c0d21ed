-- tollgate: the head of every script. KEYS[1] is the one key the script
-- touches. ARGV[1] is the instant in microseconds since the Unix epoch, or ''
-- for the server's TIME; ARGV[2] the cost (the store caps it at burst + 1,
-- which decides the same); ARGV[3] milliseconds added to every expiry; the
-- algorithm's parameters follow. Lua numbers are doubles: the store checks
-- every limit so that each value below stays under 2^53, where doubles are
-- exact integers. Each script mirrors its Go twin in core line by line, in
-- microseconds where the Go code has nanoseconds.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local cost = tonumber(ARGV[2])
local grace = tonumber(ARGV[3])

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
