/**
 * The Lua scripts the Redis adapter runs. Each publish is one script, so
 * assigning the id, appending to the stream, trimming it and ringing the
 * doorbell happen in one atomic step and one round trip.
 *
 * A channel's keys (KEYS[1] its stream, KEYS[2] its meta hash) share one hash
 * tag, so on a Cluster every script of a channel runs on the shard that owns
 * them. The meta hash holds:
 * - `epoch`: the first part of every id published now. It changes whenever
 *   the hash is missing (a restart that lost the data) or was written by
 *   another Redis instance than the one answering (`run_id` differs: a
 *   restart, or a replica promoted that may have missed the last writes).
 *   A new epoch is above the old one, above the caller's `floor` (the
 *   newest epoch that process has seen, in case Redis lost the hash too) and
 *   at least Redis's clock in ms, so an id is never handed out twice.
 * - `seq`: publishes in the current epoch; ids are `<epoch>-<seq>`.
 * - `last`: the newest id published (absent before the first).
 * - `origin`: the epoch the hash was created with. An id from an older epoch
 *   comes from before Redis lost the channel: replaying it is `unknown-id`.
 *
 * Stream entries hold `t` (Redis time in ms, for the age bound) and `p` (the
 * payload the publisher encoded). The doorbell is `<id> <t> <payload>`.
 */
import { createHash } from 'node:crypto';

const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ensure_epoch(meta, now, floor)
  local m = redis.call('HMGET', meta, 'epoch', 'run')
  local epoch = tonumber(m[1])
  local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') or ''
  if epoch and m[2] == run then return epoch end
  local e = math.max(now, (epoch or 0) + 1, floor + 1)
  redis.call('HSET', meta, 'epoch', string.format('%.0f', e), 'run', run, 'seq', 0)
  if not epoch then redis.call('HSET', meta, 'origin', string.format('%.0f', e)) end
  return e
end
`;

/**
 * KEYS: stream, meta. ARGV: payload, max length (-1: none), max age in ms
 * (-1: none), floor epoch, doorbell channel, '1' for SPUBLISH.
 * Returns `{ id, time }`.
 */
const PUBLISH = `${COMMON}
local now = now_ms()
local epoch = ensure_epoch(KEYS[2], now, tonumber(ARGV[4]))
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local id = string.format('%.0f-%d', epoch, seq)
local maxlen = tonumber(ARGV[2])
local stamp = string.format('%.0f', now)
local function add(at)
  if maxlen >= 0 then
    return redis.pcall('XADD', KEYS[1], 'MAXLEN', maxlen, at, 't', stamp, 'p', ARGV[1])
  end
  return redis.pcall('XADD', KEYS[1], at, 't', stamp, 'p', ARGV[1])
end
local added = add(id)
if type(added) == 'table' and added.err then
  -- Another writer put a later id into the stream: open an epoch past it instead of failing forever.
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  local top = ''
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then top = info[i + 1] end
  end
  epoch = math.max(now, epoch + 1, (tonumber(string.match(top, '^(%d+)')) or 0) + 1)
  redis.call('HSET', KEYS[2], 'epoch', string.format('%.0f', epoch), 'seq', 1)
  id = string.format('%.0f-1', epoch)
  added = add(id)
  if type(added) == 'table' and added.err then return redis.error_reply(added.err) end
end
redis.call('HSET', KEYS[2], 'last', id)
local maxage = tonumber(ARGV[3])
if maxage >= 0 then
  -- A few head entries per publish: MINID cannot express age when ids start with an epoch.
  local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 4)
  for i = 1, #head do
    local fields = head[i][2]
    local t = nil
    for j = 1, #fields, 2 do
      if fields[j] == 't' then t = tonumber(fields[j + 1]) end
    end
    if t ~= nil and t >= now - maxage then break end
    redis.call('XDEL', KEYS[1], head[i][1])
  end
  redis.call('PEXPIRE', KEYS[1], maxage + 60000)
end
local bell = id .. ' ' .. stamp .. ' ' .. ARGV[1]
if ARGV[6] == '1' then redis.call('SPUBLISH', ARGV[5], bell) else redis.call('PUBLISH', ARGV[5], bell) end
return { id, stamp }
`;

/**
 * KEYS: stream, meta. ARGV: floor epoch. Opens the epoch if needed and
 * returns the newest id, or `<epoch>-0` when nothing was published.
 */
const OPEN = `${COMMON}
local epoch = ensure_epoch(KEYS[2], now_ms(), tonumber(ARGV[1]))
local last = redis.call('HGET', KEYS[2], 'last')
if not last then return string.format('%.0f-0', epoch) end
return last
`;

/**
 * KEYS: stream, meta. ARGV: the id to probe, floor epoch. Returns
 * `{ epoch, last, origin, probe found (0/1), first id kept, Redis time }`.
 */
const PROBE = `${COMMON}
local now = now_ms()
local epoch = ensure_epoch(KEYS[2], now, tonumber(ARGV[2]))
local m = redis.call('HMGET', KEYS[2], 'last', 'origin')
local hit = #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local firstId = ''
if first[1] then firstId = first[1][1] end
return { string.format('%.0f', epoch), m[1] or '', m[2] or '', hit, firstId, string.format('%.0f', now) }
`;

/** A script and its SHA1, for `EVALSHA` with a fallback to `EVAL` when Redis lost its script cache. */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** @internal */
export const PUBLISH_SCRIPT = script(PUBLISH);
/** @internal */
export const OPEN_SCRIPT = script(OPEN);
/** @internal */
export const PROBE_SCRIPT = script(PROBE);
