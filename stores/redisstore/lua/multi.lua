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

-- A penalty box (core.BoxStore.TakeBoxed): KEYS[n+1] is the box, a GCRA of
-- 1 per box time that one take closes; KEYS[n+2] the denials, a sliding log
-- of K per window. Their parameters follow the takes': the box's two, then
-- the log's two. A client in the box gets {-1, time left} and nothing runs.
local box = #KEYS > n
local bargv, largv
if box then
  local b = 4 + n * 5
  bargv = {'', '', '', ARGV[b + 1], ARGV[b + 2]}
  largv = {'', '', '', ARGV[b + 3], ARGV[b + 4]}
  local r = alg0(real, KEYS[n + 1], 0, bargv)
  if r[1] ~= 1 then return {-1, r[4]} end
end

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
if box then
  -- A denied step counts a denial; the one that fills the log closes the
  -- box and is forgotten with the others. The last value says whether the
  -- box closed.
  local closed = 0
  if not all then
    local r = alg4(real, KEYS[n + 2], 1, largv)
    if r[1] ~= 1 or r[2] == 0 then
      real.call('DEL', KEYS[n + 2])
      alg0(real, KEYS[n + 1], 1, bargv)
      closed = 1
    end
  end
  out[#out + 1] = closed
end
return out
