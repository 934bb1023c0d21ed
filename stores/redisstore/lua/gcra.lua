-- GCRA (core/algo_gcra.go). State: 'g' and the theoretical arrival time.
local t = tonumber(ARGV[4])     -- emission interval
local burst = tonumber(ARGV[5])
local tau = burst * t
local tat = 0
local v = field('g')
if v then tat = tonumber(string.match(v, '^g(%-?%d+)$')) or 0 end
local used = math.max(tat - now, 0)
local function left(u) return fdiv(tau - u, t) end

if cost > burst then return {2, left(used), used, 0} end
local after = used + math.max(cost, 1) * t
if after > tau then return {0, left(used), used, after - tau} end
if cost == 0 then return {1, left(used), used, 0} end
redis.call('SET', key, string.format('g%d', now + after), 'PX', ttl(after))
return {1, left(after), after, 0}
