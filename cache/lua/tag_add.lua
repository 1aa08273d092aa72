local now = tonumber(ARGV[2])
local ms = tonumber(ARGV[3])
local exp = now + ms
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('ZREM', KEYS[2], unpack(dead))
end
local watches
for i = 4, #KEYS do
  local name = ARGV[i]
  dead = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', now, 'LIMIT', 0, 100)
  if #dead > 0 then redis.call('ZREM', KEYS[i], unpack(dead)) end
  redis.call('ZADD', KEYS[i], exp, ARGV[1])
  if redis.call('PTTL', KEYS[i]) < ms then
    redis.call('PEXPIRE', KEYS[i], ms)
  end
  local s = redis.call('ZSCORE', KEYS[1], name)
  if not s or tonumber(s) < exp then
    redis.call('ZADD', KEYS[1], exp, name)
  end
  if redis.call('ZADD', KEYS[2], 0, name) == 1 then
    if not watches then watches = redis.call('HKEYS', KEYS[3]) end
    for _, w in ipairs(watches) do
      if string.sub(name, 1, #w) == w then redis.call('HINCRBY', KEYS[3], w, 1) end
    end
  end
end
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < ms then
    redis.call('PEXPIRE', KEYS[i], ms)
  end
end
return 1
