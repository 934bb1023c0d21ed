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
