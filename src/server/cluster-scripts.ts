// The Lua scripts that change a cluster's room state in Redis. Each runs atomically inside Redis,
// so two nodes admitting peers to one room at once can never both hand out the last seat or one
// name: every check and its write happen in one script, never as a read in Node and a later write.
//
// Layout (every key starts with the cluster prefix, `voxroom:` by default):
//   room:<room>            hash   member id → member JSON (ClusterMember in redis-room-store.ts)
//   rooms                  set    rooms with at least one member
//   away                   zset   "<room>\n<id>" → the ms time its grace ends
//   node:<node>:members    set    "<room>\n<id>" of the connected members a node carries
//   node:<node>:alive      string heartbeat, expires unless renewed (cluster-node.ts)
//   nodes                  set    nodes that announced themselves
//   kicked:<id>            string a member an admin kicked: its resume claims are refused; expires
//                                 when a resume token issued before the kick would have
//   janus-placement        hash   room → the Janus (its URL) an SFU room's media goes through;
//                                 forgotten with the room's last member
//   janus-sessions         hash   "<room>\n<id>" → the member's Janus session and handles (JSON,
//                                 JanusHandoff in janus-driver.ts), for a node that takes its
//                                 media over; forgotten with the member
//   node:<node>:inbox      stream signals for the sockets a node carries, from members on other
//                                 nodes (node-inbox.ts reads it); expires when no longer written
// Members are JSON; an away member has socketId "" and node "" (cjson has no clean null).
// Scripts that reach other rooms' or nodes' keys (sweeps) name them from the data, which suits a
// single Redis (or a primary with replicas), not Redis Cluster sharding.

/** Shared helpers, prepended to each script. */
const COMMON = `
local prefix = ARGV[1]
local function ref(room, id) return room .. '\\n' .. id end
local function roomKey(room) return prefix .. 'room:' .. room end
local function nodeKey(node) return prefix .. 'node:' .. node .. ':members' end
local function load(room, id)
  local raw = redis.call('HGET', roomKey(room), id)
  if not raw then return nil end
  return cjson.decode(raw)
end
local function save(member) redis.call('HSET', roomKey(member.room), member.id, cjson.encode(member)) end
-- keepRoom: a room a member is about to be seated in (a join that first drops a namesake): its
-- Janus record stays although the room is empty for a moment.
local function forget(member, keepRoom)
  redis.call('HDEL', roomKey(member.room), member.id)
  redis.call('ZREM', prefix .. 'away', ref(member.room, member.id))
  redis.call('HDEL', prefix .. 'janus-sessions', ref(member.room, member.id))
  if member.node ~= '' then redis.call('SREM', nodeKey(member.node), ref(member.room, member.id)) end
  if redis.call('HLEN', roomKey(member.room)) == 0 then
    redis.call('SREM', prefix .. 'rooms', member.room)
    if member.room ~= keepRoom then redis.call('HDEL', prefix .. 'janus-placement', member.room) end
  end
end
local function goAway(member, deadline)
  if member.node ~= '' then redis.call('SREM', nodeKey(member.node), ref(member.room, member.id)) end
  -- The node it went away from: only that node may write it back as it was (RESTORE).
  member.awayFrom = member.node
  member.socketId = ''
  member.node = ''
  member.state.away = true
  save(member)
  redis.call('ZADD', prefix .. 'away', deadline, ref(member.room, member.id))
end
local function carry(member, socketId, node)
  if member.node ~= '' and member.node ~= node then redis.call('SREM', nodeKey(member.node), ref(member.room, member.id)) end
  member.socketId = socketId
  member.node = node
  member.state.away = false
  save(member)
  redis.call('ZREM', prefix .. 'away', ref(member.room, member.id))
  redis.call('SADD', nodeKey(node), ref(member.room, member.id))
  redis.call('SADD', prefix .. 'rooms', member.room)
end
local function membersOf(room)
  local list = {}
  local raw = redis.call('HVALS', roomKey(room))
  for i = 1, #raw do list[#list + 1] = cjson.decode(raw[i]) end
  return list
end
`;

/**
 * Where an SFU room's media goes. ARGV: prefix, room, proposed Janus, replacing ('' for none).
 * The recorded Janus stands unless it is the one being replaced (it was lost); otherwise the
 * proposal is recorded (not for a room without members: nobody would delete it). Returns JSON
 * { janus, replaced }: every node follows that Janus; replaced says another record was overwritten.
 */
export const PLACE_JANUS_SCRIPT = `${COMMON}
local key = prefix .. 'janus-placement'
local current = redis.call('HGET', key, ARGV[2])
if current and current ~= ARGV[4] then return cjson.encode({ janus = current, replaced = false }) end
if redis.call('HLEN', roomKey(ARGV[2])) == 0 then return cjson.encode({ janus = ARGV[3], replaced = false }) end
redis.call('HSET', key, ARGV[2], ARGV[3])
return cjson.encode({ janus = ARGV[3], replaced = current ~= false and current ~= ARGV[3] })
`;

/**
 * Records a member's Janus session and handles (JanusHandoff), written by the node that drives
 * them: while it carries the member, or the member is away (nobody carries it). A node that
 * lost the member to another node writes nothing over the new node's record. ARGV: prefix,
 * room, id, this node, the handoff's JSON (kept as it is: cjson would round Janus's 16-digit
 * ids). Returns JSON true, or nil when not written.
 */
export const SAVE_HANDOFF_SCRIPT = `${COMMON}
local member = load(ARGV[2], ARGV[3])
if not member or (member.node ~= ARGV[4] and member.node ~= '') then return nil end
redis.call('HSET', prefix .. 'janus-sessions', ref(ARGV[2], ARGV[3]), ARGV[5])
return cjson.encode(true)
`;

/**
 * At most this many entries wait in an inbox (trimmed approximately, as XADD MAXLEN ~ does); its
 * reader deletes what it has read. As large as the adapter's stream (cluster-node.ts): a burst
 * of 40 000 relays to one node outran its reader by more than 10 000.
 */
export const INBOX_MAX_ENTRIES = 100_000;
/** An inbox nobody writes to goes after this long: a dead node's is never read again. */
export const INBOX_TTL_MS = 60_000;

/**
 * Relays a signal to a roommate in one round trip: looks the target up in the sender's room and,
 * when another node carries its socket, appends the signal to that node's inbox. A local
 * target's signal (or an away one's) is left to the caller. ARGV: prefix, room, target id,
 * this node, the relayed signal's JSON. Returns JSON { member, forwarded }, or nil (no such
 * member in the room).
 */
export const RELAY_SCRIPT = `${COMMON}
local raw = redis.call('HGET', roomKey(ARGV[2]), ARGV[3])
if not raw then return nil end
local member = cjson.decode(raw)
local forwarded = member.socketId ~= '' and member.node ~= ARGV[4]
if forwarded then
  local inbox = prefix .. 'node:' .. member.node .. ':inbox'
  redis.call('XADD', inbox, 'MAXLEN', '~', ${INBOX_MAX_ENTRIES}, '*', 'socket', member.socketId, 'signal', ARGV[5])
  redis.call('PEXPIRE', inbox, ${INBOX_TTL_MS})
end
-- The member as stored, not encoded again: this runs once per signal.
return '{"forwarded":' .. tostring(forwarded) .. ',"member":' .. raw .. '}'
`;

/**
 * Admits a socket to a room: rebinds a resuming member (same id), or seats a new one under a
 * unique name if a seat is free, replacing a namesake when the name is the joiner's own.
 * ARGV: prefix, room, socketId, node, claimId, claimName, ownsName (1/0), requestedName, capacity,
 * protocolVersion, a new member's state JSON (its grants also go to a resuming one), newId,
 * previousRoom, previousId, name bases JSON (the name trimmed for a suffix of 2..6 characters).
 * Returns JSON: { ok, member, others, resumed, stale, replaced, renamed, previous }, or { ok: false }
 * (room full), or { ok: false, kicked: true } (the claim is for a member an admin kicked).
 */
export const JOIN_SCRIPT = `${COMMON}
local room, socketId, node = ARGV[2], ARGV[3], ARGV[4]
local claimId, claimName, ownsName, requested = ARGV[5], ARGV[6], ARGV[7] == '1', ARGV[8]
local capacity, version, initial, newId = tonumber(ARGV[9]), tonumber(ARGV[10]), cjson.decode(ARGV[11]), ARGV[12]
local previousRoom, previousId, bases = ARGV[13], ARGV[14], cjson.decode(ARGV[15])
if claimId ~= '' and redis.call('EXISTS', prefix .. 'kicked:' .. claimId) == 1 then return cjson.encode({ ok = false, kicked = true }) end
local previous = nil
if previousId ~= '' then
  previous = load(previousRoom, previousId)
  if previous and previous.socketId ~= socketId then previous = nil end
end
local existing = nil
if claimId ~= '' then existing = load(room, claimId) end
if existing then
  local dropped = nil
  if previous and previous.id ~= existing.id then forget(previous, room); dropped = previous end
  local stale = ''
  if existing.socketId ~= '' and existing.socketId ~= socketId then stale = existing.socketId end
  existing.protocolVersion = version
  existing.state.grants = initial.grants
  carry(existing, socketId, node)
  local others = {}
  for _, m in ipairs(membersOf(room)) do if m.id ~= existing.id then others[#others + 1] = m end end
  return cjson.encode({ ok = true, member = existing, others = others, resumed = 'rebound', stale = stale, renamed = false, previous = dropped or false, replaced = false })
end
local members = membersOf(room)
local replaced = nil
if ownsName then
  for _, m in ipairs(members) do if m.name == requested and m.socketId ~= socketId then replaced = m end end
end
local leaving = 0
if previous and previous.room == room then leaving = leaving + 1 end
if replaced then leaving = leaving + 1 end
if #members - leaving >= capacity then return cjson.encode({ ok = false }) end
if previous then forget(previous, room) end
if replaced then forget(replaced, room) end
local taken = {}
for _, m in ipairs(members) do
  local gone = (previous and m.id == previous.id) or (replaced and m.id == replaced.id)
  if not gone then taken[m.name] = true end
end
-- A claim restores its old id and name together or not at all (see RoomRegistry.join).
local restoring = claimId ~= '' and (ownsName or not taken[claimName])
local base = requested
if restoring then base = claimName end
local name = requested
if not ownsName then
  name = base
  local suffix = 2
  while taken[name] do
    local tail = '-' .. suffix
    name = bases[#tail - 1] .. tail
    suffix = suffix + 1
  end
end
local id = newId
if restoring then id = claimId end
local member = { id = id, name = name, room = room, socketId = '', node = '', state = initial, protocolVersion = version }
local others = membersOf(room)
carry(member, socketId, node)
local resumed = false
if restoring then resumed = 'restored' end
return cjson.encode({ ok = true, member = member, others = others, resumed = resumed, stale = '', renamed = (name ~= requested and not restoring), previous = previous or false, replaced = replaced or false })
`;

/**
 * The member's socket closed: away until it resumes or its grace ends (ARGV deadline).
 * ARGV: prefix, room, id, socketId, deadline. Only if the socket still carries it (a member that
 * already resumed elsewhere stays as it is). Returns the member JSON or nil.
 */
export const MARK_AWAY_SCRIPT = `${COMMON}
local member = load(ARGV[2], ARGV[3])
if not member or member.socketId ~= ARGV[4] then return nil end
goAway(member, tonumber(ARGV[5]))
return cjson.encode(member)
`;

/**
 * Ends a membership. ARGV: prefix, room, id, socketId: the socket that carries it, or "" to end
 * only an away member whose grace is over: ARGV[5] is the deadline the caller wrote, and a later
 * one (a grace timer left on a node the member went away from once must not end a later away
 * spell, which another node began) keeps it. (Not the caller's clock: a timer may fire a few ms
 * before the deadline it wrote.)
 * Returns the member JSON or nil (already gone, carried by a socket, or its grace still running).
 */
export const LEAVE_SCRIPT = `${COMMON}
local member = load(ARGV[2], ARGV[3])
if not member or member.socketId ~= ARGV[4] then return nil end
if ARGV[4] == '' then
  local deadline = redis.call('ZSCORE', prefix .. 'away', ref(member.room, member.id))
  if deadline and tonumber(deadline) > (tonumber(ARGV[5] or '') or 0) then return nil end
end
forget(member)
return cjson.encode(member)
`;

/**
 * Applies a state patch. ARGV: prefix, room, id, socketId ("" for any), patch JSON.
 * Returns JSON { member, changed } or nil.
 */
export const UPDATE_STATE_SCRIPT = `${COMMON}
local member = load(ARGV[2], ARGV[3])
if not member or (ARGV[4] ~= '' and member.socketId ~= ARGV[4]) then return nil end
local patch = cjson.decode(ARGV[5])
local changed = false
for key, value in pairs(patch) do
  local current = member.state[key]
  local same
  if type(value) == 'table' and type(current) == 'table' then
    same = current.x == value.x and current.y == value.y and current.facing == value.facing
  else
    same = current == value
  end
  if not same then member.state[key] = value; changed = true end
end
if changed then save(member) end
return cjson.encode({ member = member, changed = changed })
`;

/**
 * An admin kicked a member: it leaves wherever it is (connected on any node, or away), and its
 * id goes on the deny-list for ARGV ttl ms, in the same step, so no resume slips in between.
 * ARGV: prefix, room, id, ttlMs. Returns the member JSON, or nil if it had already gone.
 */
export const KICK_SCRIPT = `${COMMON}
redis.call('SET', prefix .. 'kicked:' .. ARGV[3], '1', 'PX', ARGV[4])
local member = load(ARGV[2], ARGV[3])
if not member then return nil end
forget(member)
return cjson.encode(member)
`;

/**
 * Every away member whose grace ended leaves. ARGV: prefix, now. Returns a JSON list of the
 * members removed (each removed by exactly one sweeping node, which announces it).
 */
export const EXPIRE_AWAY_SCRIPT = `${COMMON}
local due = redis.call('ZRANGEBYSCORE', prefix .. 'away', '-inf', ARGV[2])
local gone = {}
for _, entry in ipairs(due) do
  redis.call('ZREM', prefix .. 'away', entry)
  local cut = string.find(entry, '\\n', 1, true)
  local member = load(string.sub(entry, 1, cut - 1), string.sub(entry, cut + 1))
  if member and member.socketId == '' then forget(member); gone[#gone + 1] = member end
end
if #gone == 0 then return '[]' end
return cjson.encode(gone)
`;

/**
 * A node whose heartbeat expired (killed, or cut off from Redis): its members become away with
 * the grace (ARGV deadline) and the node is forgotten. ARGV: prefix, node, deadline.
 * Returns a JSON list of the members now away; [] when the node is alive after all.
 */
export const SWEEP_NODE_SCRIPT = `${COMMON}
local node = ARGV[2]
if redis.call('EXISTS', prefix .. 'node:' .. node .. ':alive') == 1 then return '[]' end
local away = {}
for _, entry in ipairs(redis.call('SMEMBERS', nodeKey(node))) do
  local cut = string.find(entry, '\\n', 1, true)
  local member = load(string.sub(entry, 1, cut - 1), string.sub(entry, cut + 1))
  if member and member.node == node then goAway(member, tonumber(ARGV[3])); away[#away + 1] = member end
end
redis.call('DEL', nodeKey(node))
redis.call('SREM', prefix .. 'nodes', node)
if #away == 0 then return '[]' end
return cjson.encode(away)
`;

/**
 * Redis came back (or forgot everything), or another node took this one for dead: a node writes
 * one of its connected members back. ARGV: prefix, member JSON. Returns "kept" (it was there;
 * now carried by this node again), "returned" (it was there, away: the room must see it back),
 * "restored" (it was gone: the room must hear of it again), "elsewhere" (it resumed through
 * another node meanwhile, which carries it now), "displaced" (it was gone, and meanwhile a
 * newcomer took its name or the room's last seat, ARGV[3]: capacity) or "kicked" (an admin
 * removed it).
 */
export const RESTORE_SCRIPT = `${COMMON}
local member = cjson.decode(ARGV[2])
if redis.call('EXISTS', prefix .. 'kicked:' .. member.id) == 1 then return 'kicked' end
local current = load(member.room, member.id)
if current then
  if current.socketId ~= '' and current.node ~= member.node then return 'elsewhere' end
  -- Away from another node since (it resumed there, then lost that connection too).
  if current.state.away and current.awayFrom ~= nil and current.awayFrom ~= member.node then return 'elsewhere' end
  local wasAway = current.state.away
  carry(current, member.socketId, member.node)
  if wasAway then return 'returned' end
  return 'kept'
end
local others = membersOf(member.room)
if #others >= (tonumber(ARGV[3] or '') or math.huge) then return 'displaced' end
for _, other in ipairs(others) do if other.name == member.name then return 'displaced' end end
local socketId, node = member.socketId, member.node
member.node = ''
carry(member, socketId, node)
return 'restored'
`;
