-- Settlement, token bucket (core/storekit/settle.go): the deficit grows
-- past empty, up to twice the capacity, or shrinks, never below full.
if cost > 0 then
  deficit = math.max(deficit, math.min(deficit + cost * period, 2 * capacity))
else
  deficit = math.max(deficit + cost * period, 0)
end
redis.call('SET', key, string.format('t%d:%d:%d', deficit, t, period), 'PX', ttl(refill(deficit)))
