-- Read-or-lease: the value KEYS[1] if there is one; else take the lease
-- KEYS[2] (token ARGV[1], for ARGV[2] ms) unless another holder has it.
-- Returns the value, 1 (the lease is ours) or 0 (another holder has it).
local v = redis.call('GET', KEYS[1])
if v then
  return v
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
