-- Settlement, sliding window counter (core/storekit/settle.go). A charge
-- past the quota moves the state on to the next window, which starts with
-- the debt counted (read there until then, as for a clock stepped back),
-- at most one window ahead; a refund comes off the previous window's count
-- first, while the reservation's windows still count.
local na, nb, nc
if cost < 0 then
  if a == w or a == w - period then
    local back = -cost
    if a == w then
      local from = math.min(prev, back)
      prev, back = prev - from, back - from
      cur = math.max(cur - back, 0)
    else
      prev = math.max(prev - back, 0)
    end
    na, nb, nc = w, cur, prev
    if cur == 0 and prev == 0 then na = 0 end
  end
else
  local c = cur + cost
  local over = c - math.max(rate, cur)
  na, nb, nc = w, c, prev
  if over > 0 then
    if w > fdiv(now, period) * period then
      nb = c - over
    else
      na, nb, nc = w + period, math.min(over, rate), c - over
    end
  end
end
if na then
  redis.call('SET', key, string.format('s%d:%d:%d', na, nb, nc), 'PX', ttl(math.max(na + 2 * period - now, 0)))
end
