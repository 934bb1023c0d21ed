-- tollgate: renew the leases of the slots one instance holds in KEYS[1]
-- (see slotacquire.lua). ARGV[1] is the lease in milliseconds, ARGV[2..]
-- the slot ids. Only slots still there are renewed (ZADD XX): a lease that
-- ended (Redis was out of reach for longer than a lease) is not taken back,
-- since its place may have been given to another. Returns how many were
-- renewed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key = KEYS[1]
local lease = tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
  n = n + redis.call('ZADD', key, 'XX', 'CH', now + lease, ARGV[i])
end
redis.call('PEXPIRE', key, lease)
return n
