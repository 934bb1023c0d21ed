-- tollgate: several takes in one step (core.MultiStore.TakeMany). KEYS are
-- the takes' keys; ARGV[4] is their number, and take i's algorithm, cost and
-- three parameters are ARGV[5+5(i-1)] to ARGV[9+5(i-1)]. The algorithms'
-- scripts are above, each made a function of (redis, key, cost, ARGV).
--
-- Every take is decided through a redis that lets reads through and keeps
-- each write aside; only if every take is admitted are the writes sent, in
-- order (no script reads a key after writing it, so they do what the
-- script would have done). Otherwise nothing is written and an admitted
-- take reports its peek (cost 0): its key as it stays.
local algs = {[0] = alg0, alg1, alg2, alg3, alg4}
local reads = {GET = true, LLEN = true, LINDEX = true, LRANGE = true}
local real = redis
local writes = {}
local dry = {
  call = function(cmd, ...)
    if reads[cmd] then return real.call(cmd, ...) end
    writes[#writes + 1] = {cmd, ...}
    return false
  end,
  pcall = function(cmd, ...)
    if reads[cmd] then return real.pcall(cmd, ...) end
    writes[#writes + 1] = {cmd, ...}
    return false
  end,
}

local n = tonumber(ARGV[4])
local takes, all, out = {}, true, {}
for i = 1, n do
  local b = 4 + (i - 1) * 5
  local f, cost = algs[tonumber(ARGV[b + 1])], tonumber(ARGV[b + 2])
  local argv = {'', '', '', ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]}
  local r = f(dry, KEYS[i], cost, argv)
  if r[1] ~= 1 then all = false end
  takes[i] = {f = f, cost = cost, argv = argv, r = r}
end
if all then
  for _, w in ipairs(writes) do real.call(unpack(w)) end
end
for i = 1, n do
  local t = takes[i]
  if not all and t.r[1] == 1 and t.cost > 0 then
    t.r = t.f(dry, KEYS[i], 0, t.argv)
  end
  for j = 1, 4 do out[#out + 1] = t.r[j] end
end
return out
