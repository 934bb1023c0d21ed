-- tollgate: the GCRA decisions of one batch (batch.go), each independent of
-- the others, in one script run: Redis' cost of a script call (about 10 µs
-- here, against 3 µs for a decision within one) is paid once per batch.
-- Only on a single server, where every key is on the node. ARGV[3] is the
-- grace; ARGV[4] the number of decisions; decision i's instant ('' for the
-- server's TIME, read once), cost, emission interval and burst are
-- ARGV[5+4(i-1)] to ARGV[8+4(i-1)]. alg0 is gcra.lua, made a function of
-- (redis, key, cost, ARGV); it reads now and grace.
local n = tonumber(ARGV[4])
local out = {}
local server
for i = 1, n do
  local b = 4 * i
  now = tonumber(ARGV[b + 1])
  if not now then
    if not server then
      local t = redis.call('TIME')
      server = tonumber(t[1]) * 1000000 + tonumber(t[2])
    end
    now = server
  end
  local r = alg0(redis, KEYS[i], tonumber(ARGV[b + 2]), {'', '', '', ARGV[b + 3], ARGV[b + 4]})
  for j = 1, 4 do out[#out + 1] = r[j] end
end
return out
