-- Lease grant (lease.go): take up to ARGV[2] tokens from the fixed window's
-- count of the key, the state core/algo_fixedwindow.go and fixedwindow.lua
-- keep, so a key decided one at a time and a key leased share one count.
-- ARGV[4] is the period, ARGV[5] the rate. A grant may be partial: what the
-- window has left, down to 0. Replies {granted, µs until the window ends,
-- the window's start, left in the window after the grant}.
-- ARGV[6], when not '', is a give-back instead: that many unused tokens of
-- the window starting at ARGV[7] go back to the count, if it is still that
-- window's.
local period = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
local w, count, untl, carry = window(period, rate)
if ARGV[6] ~= '' then
  local back, from = tonumber(ARGV[6]), tonumber(ARGV[7])
  if from ~= w or count == 0 then return {0, untl, w, rate - count} end
  count = math.max(count - back, 0)
  fstate(w, count, carry, untl, period)
  return {back, untl, w, rate - count}
end
local give = math.max(math.min(cost, rate - count), 0)
if give > 0 then
  count = count + give
  fstate(w, count, carry, untl, period)
end
return {give, untl, w, rate - count}
