-- tollgate: acquire a concurrency slot. KEYS[1] is the key's slots: a
-- sorted set of slot ids scored by the instant (milliseconds of the
-- server's TIME) their lease ends. ARGV[1] is the most slots, ARGV[2] the
-- lease in milliseconds, ARGV[3] the new slot's id. Leases that ended are
-- dropped first: their holders died without giving them back. Returns
-- {1, held} when the slot is taken (held counts it), {0, held} when max are
-- held.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key = KEYS[1]
local max = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local held = redis.call('ZCARD', key)
if held >= max then
  return {0, held}
end
redis.call('ZADD', key, now + lease, ARGV[3])
redis.call('PEXPIRE', key, lease)
return {1, held + 1}
