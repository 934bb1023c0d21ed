-- tollgate: several takes in one step (core.MultiStore.TakeMany). KEYS are
-- the takes' keys; ARGV[4] is their number, and take i's algorithm, cost and
-- three parameters are ARGV[5+5(i-1)] to ARGV[9+5(i-1)]. The algorithms'
-- scripts are above, each made a function of (redis, key, cost, ARGV).
--
-- Every take is first decided through dry, which lets reads through and
-- drops writes; only if every take is admitted is each decided again
-- through redis itself, at the same instant on the same state, so the same
-- decisions, now written. Otherwise nothing is written and an admitted
-- take reports its peek (cost 0): its key as it stays.
local algs = {[0] = alg0, alg1, alg2, alg3, alg4}
local reads = {GET = true, LLEN = true, LINDEX = true, LRANGE = true}
local real = redis
local dry = {
  call = function(cmd, ...)
    if reads[cmd] then return real.call(cmd, ...) end
    return false
  end,
  pcall = function(cmd, ...)
    if reads[cmd] then return real.pcall(cmd, ...) end
    return false
  end,
}

local n = tonumber(ARGV[4])
local takes, all = {}, true
for i = 1, n do
  local b = 4 + (i - 1) * 5
  local t = {
    f = algs[tonumber(ARGV[b + 1])],
    cost = tonumber(ARGV[b + 2]),
    argv = {'', '', '', ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]},
  }
  t.r = t.f(dry, KEYS[i], t.cost, t.argv)
  if t.r[1] ~= 1 then all = false end
  takes[i] = t
end
local out = {}
for i = 1, n do
  local t = takes[i]
  if t.cost > 0 then
    if all then
      t.r = t.f(real, KEYS[i], t.cost, t.argv)
    elseif t.r[1] == 1 then
      t.r = t.f(dry, KEYS[i], 0, t.argv)
    end
  end
  for j = 1, 4 do out[#out + 1] = t.r[j] end
end
return out
