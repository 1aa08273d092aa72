local budget = tonumber(ARGV[1])
local out, drains, gone = {}, {}, {}
local watches = redis.call('HKEYS', KEYS[3])
for i = 4, #KEYS do
  local n = redis.call('ZCARD', KEYS[i])
  if n > 0 and n <= budget then
    for _, k in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do out[#out + 1] = k end
    redis.call('DEL', KEYS[i])
    budget = budget - n
  elseif n > 0 then
    local tmp = ARGV[2] .. i
    redis.call('RENAME', KEYS[i], tmp)
    redis.call('PEXPIRE', tmp, ARGV[3])
    drains[#drains + 1] = tmp
  end
  local name = ARGV[i]
  local keep = false
  for _, w in ipairs(watches) do
    if string.sub(name, 1, #w) == w then keep = true end
  end
  if not keep then gone[#gone + 1] = name end
end
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('ZREM', KEYS[2], unpack(gone))
end
return {out, drains}
