-- Settlement, GCRA (core/storekit/settle.go): cost is what the real cost
-- differs by. A charge pushes the arrival time on, up to 2×tau used; a
-- refund moves it back, never past now.
if cost > 0 or used > 0 then
  if cost > 0 then
    used = math.max(used, math.min(used + cost * t, 2 * tau))
  else
    used = math.max(used + cost * t, 0)
  end
  redis.call('SET', key, string.format('g%d', now + used), 'PX', math.max(math.ceil(used / 1000), 1) + grace)
end
