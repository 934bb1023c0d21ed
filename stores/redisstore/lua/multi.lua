-- tollgate: several takes in one step (core.MultiStore.TakeMany), under
-- penalty boxes (core.BoxStore.TakeBoxed). KEYS are the takes' keys, then
-- two per box; ARGV[4] is the number of takes, take i's algorithm, cost
-- and three parameters are ARGV[5+5(i-1)] to ARGV[9+5(i-1)], and box j's
-- four parameters and mask follow the takes'. The algorithms' scripts are
-- above, each made a function of (redis, key, cost, ARGV).
--
-- ARGV[2] is the mode:
--   0, a step: every take is decided through a redis that lets reads
--      through and keeps each write aside; only if every take is admitted
--      are the writes sent, in order (no script reads a key after writing
--      it, so they do what the script would have done). Otherwise nothing
--      is written and an admitted take reports its peek (cost 0): its key
--      as it stays.
--   1, a dry run (the store's step split by slot): every take is decided
--      and nothing is written; each take answers its decision and its
--      peek (the decision again when it is denied or costs nothing).
--   2, a denial: counted in every box (the store chose which) that is
--      still open; no takes.
-- In modes 0 and 1 a client in any box gets {-1, the longest time left}
-- and no take runs.
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

local mode = tonumber(ARGV[2])
local n = tonumber(ARGV[4])

-- A penalty box: its first key is the box, a GCRA of 1 per box time that
-- one take closes; its second the denials, a sliding log of K per window.
-- Its parameters are the box's two, the log's two, and the mask of the
-- takes whose denials it counts (bit i-1 for take i; 0 for all).
local boxes = {}
for j = 1, (#KEYS - n) / 2 do
  local b = 4 + n * 5 + (j - 1) * 5
  boxes[j] = {
    box = KEYS[n + 2 * j - 1], log = KEYS[n + 2 * j],
    bargv = {'', '', '', ARGV[b + 1], ARGV[b + 2]},
    largv = {'', '', '', ARGV[b + 3], ARGV[b + 4]},
    mask = tonumber(ARGV[b + 5]),
  }
end

-- count counts a denial in bx; the one that fills the log closes the box
-- and is forgotten with the others. It returns 1 if the box closed.
local function count(bx)
  local r = alg4(real, bx.log, 1, bx.largv)
  if r[1] ~= 1 or r[2] == 0 then
    real.call('DEL', bx.log)
    alg0(real, bx.box, 1, bx.bargv)
    return 1
  end
  return 0
end

-- A denial counted apart from its step (mode 2) may find its box closed
-- since the step read it: then it is not counted, as if the step had come
-- after the box closed, and the box answers minus the time left.
if mode == 2 then
  local out = {}
  for j, bx in ipairs(boxes) do
    local r = alg0(real, bx.box, 0, bx.bargv)
    if r[1] ~= 1 then out[j] = -r[4] else out[j] = count(bx) end
  end
  return out
end

local boxed, left = false, 0
for _, bx in ipairs(boxes) do
  local r = alg0(real, bx.box, 0, bx.bargv)
  if r[1] ~= 1 then boxed, left = true, math.max(left, r[4]) end
end
if boxed then return {-1, left} end

local takes, all, out = {}, true, {}
for i = 1, n do
  local b = 4 + (i - 1) * 5
  local f, cost = algs[tonumber(ARGV[b + 1])], tonumber(ARGV[b + 2])
  local argv = {'', '', '', ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]}
  local r = f(dry, KEYS[i], cost, argv)
  if r[1] ~= 1 then all = false end
  takes[i] = {f = f, cost = cost, argv = argv, r = r, denied = r[1] ~= 1}
end

if mode == 1 then
  for i = 1, n do
    local t = takes[i]
    local p = t.r
    if not t.denied and t.cost > 0 then p = t.f(dry, KEYS[i], 0, t.argv) end
    for j = 1, 4 do out[#out + 1] = t.r[j] end
    for j = 1, 4 do out[#out + 1] = p[j] end
  end
  return out
end

if all then
  for _, w in ipairs(writes) do real.call(unpack(w)) end
end
for i = 1, n do
  local t = takes[i]
  if not all and not t.denied and t.cost > 0 then
    t.r = t.f(dry, KEYS[i], 0, t.argv)
  end
  for j = 1, 4 do out[#out + 1] = t.r[j] end
end
-- A denied step counts a denial in each box whose mask selects a denied
-- take. One value per box says whether it closed.
for j, bx in ipairs(boxes) do
  local closed = 0
  if not all then
    local counts = bx.mask == 0
    for i = 1, n do
      if takes[i].denied and math.floor(bx.mask / 2 ^ (i - 1)) % 2 == 1 then counts = true end
    end
    if counts then closed = count(bx) end
  end
  out[#out + 1] = closed
end
return out
