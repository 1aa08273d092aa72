local ver = ''
if ARGV[6] ~= '' then
  redis.call('HSETNX', KEYS[3], ARGV[6], ARGV[1])
  ver = redis.call('HGET', KEYS[3], ARGV[6])
  if ver == ARGV[7] then return {ver, '', '0'} end
end
local limit = tonumber(ARGV[4])
local page = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[2], ARGV[3], 'LIMIT', 0, limit)
local out = {ver, page[#page] or '', #page == limit and '1' or '0'}
if #page == 0 then return out end
local now = tonumber(ARGV[1])
local scores = redis.call('ZMSCORE', KEYS[1], unpack(page))
local watches = redis.call('HKEYS', KEYS[3])
local dead = {}
for i, t in ipairs(page) do
  local s = scores[i]
  if s and tonumber(s) > now then
    local watched = false
    for _, w in ipairs(watches) do
      if string.sub(t, 1, #w) == w then watched = true end
    end
    -- A watched name outlives its set (see tagTakeScript): skip it while
    -- its set is gone.
    if not watched or redis.call('EXISTS', ARGV[5] .. t) == 1 then
      out[#out + 1] = t
    end
  else
    dead[#dead + 1] = t
  end
end
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('ZREM', KEYS[2], unpack(dead))
end
return out
