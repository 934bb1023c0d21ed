-- Settlement, fixed window (core/storekit/settle.go): what a charge pushes
-- past the quota is carried into the next window, up to rate; a refund
-- comes off the count while its window is the one recorded.
if cost > 0 then
  local c = count + cost
  local over = c - math.max(rate, count)
  if over > 0 then
    carry = math.min(carry + over, rate)
    c = c - over
  end
  fstate(w, c, carry, untl, period)
elseif start >= w then
  fstate(w, math.max(count + cost, 0), carry, untl, period)
end
