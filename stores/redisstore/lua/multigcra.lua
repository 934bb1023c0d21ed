-- tollgate: several GCRA takes in one step, the common case of
-- core.MultiStore.TakeMany, without multi.lua's recording redis: every
-- state is read and decided first, and written only if all are admitted.
-- Each take mirrors gcra.lua (and so core/algo_gcra.go) line by line.
-- KEYS are the takes' keys; ARGV[4] is their number, and take i's cost,
-- emission interval and burst are ARGV[5+3(i-1)] to ARGV[7+3(i-1)].
local n = tonumber(ARGV[4])
local out, all = {}, true
local afters = {}
-- One read for every state: MGET answers false for a missing key or one of
-- another type, which reads as a new key, as GET's pcall does in gcra.lua.
local vs = redis.call('MGET', unpack(KEYS, 1, n))
for i = 1, n do
  local b = 2 + 3 * i
  local cost, t, burst = tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  local tau = burst * t
  local tat = 0
  local v = vs[i]
  if type(v) == 'string' and string.byte(v, 1) == 103 then -- 'g'
    tat = tonumber(string.sub(v, 2)) or 0
  end
  local used = math.max(tat - now, 0)
  -- left = floor((tau - used)/t), exact even where the quotient rounds up.
  local a = tau - used
  local left = math.floor(a / t)
  if left * t > a then left = left - 1 elseif (left + 1) * t <= a then left = left + 1 end
  local o = 4 * (i - 1)
  out[o + 2], out[o + 3] = left, used
  if cost > burst then
    out[o + 1], out[o + 4], all = 2, 0, false
  else
    local after = used + math.max(cost, 1) * t
    if after > tau then
      out[o + 1], out[o + 4], all = 0, after - tau, false
    else
      out[o + 1], out[o + 4] = 1, 0
      if cost > 0 then
        -- Admitted: what the take leaves, if the step is.
        afters[i] = after
      end
    end
  end
end
if all then
  for i = 1, n do
    local after = afters[i]
    if after then
      redis.call('SET', KEYS[i], string.format('g%d', now + after), 'PX', math.max(math.ceil(after / 1000), 1) + grace)
      local t = tonumber(ARGV[3 + 3 * i])
      local a = tonumber(ARGV[4 + 3 * i]) * t - after
      local left = math.floor(a / t)
      if left * t > a then left = left - 1 elseif (left + 1) * t <= a then left = left + 1 end
      local o = 4 * (i - 1)
      out[o + 2], out[o + 3] = left, after
    end
  end
end
-- Otherwise nothing is written, and an admitted take's values are its
-- peek's: its key as it stays.
return out
