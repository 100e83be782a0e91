// Taking over a Janus session that another connection created (Janus's `claim`), and letting go
// of one another connection claimed, through janode. janode can only create sessions and attach
// handles; it has no API to adopt an existing session or handle. So this module builds janode's
// own Session and Handle objects around the claimed ids and enters them in the tables janode
// routes Janus's replies and events through, as janode's create() and attach() do. It touches
// janode's private fields, so janode's version is pinned in package.json; the cluster SFU tests
// (members' sessions claimed from a live and from a dead node) and janus-claim's own test (the
// tables and listener counts back where they were) would catch a janode that changed them.
import Janode, { type JanodeConnection, type JanodeSession } from 'janode';
import VideoRoomPlugin, { type VideoRoomHandle } from 'janode/plugins/videoroom';
import { withTimeout } from '../timeout.js';

/** janode 1.8's private parts that adopting a session needs. */
interface SessionInternals {
  _handles: Map<number, VideoRoomHandle>;
  _signalDestroy(): void;
  sendRequest(request: { janus: string }): Promise<unknown>;
}
interface ConnectionInternals {
  _sessions: Map<number, JanodeSession>;
}
type SessionClass = new (connection: JanodeConnection, id: number, keepAliveSeconds?: number) => JanodeSession;

export interface ClaimedSession {
  session: JanodeSession;
  /** The handles asked for, in the same order, as janode VideoRoom handles of the session. */
  handles: VideoRoomHandle[];
}

/**
 * Claims session `sessionId` for `connection` (Janus then sends that session's events here,
 * and keeps it as long as this connection does) and adopts its VideoRoom handles `handleIds`.
 * `template`: any session janode created on this connection (its class is janode's Session,
 * which janode does not export). Rejects when Janus no longer has the session (458), or does
 * not answer within `timeoutMs` (a late claim then leaves a session nobody keeps alive, which
 * Janus ends after its session_timeout).
 */
export async function claimSession(connection: JanodeConnection, template: JanodeSession, sessionId: number, handleIds: number[], timeoutMs: number): Promise<ClaimedSession> {
  const Session = template.constructor as SessionClass;
  const sessions = (connection as unknown as ConnectionInternals)._sessions;
  if (sessions.has(sessionId)) throw new Error(`session ${sessionId} is already this connection's`);
  // Entered before the claim: its reply carries the session id, which janode routes by.
  const session = new Session(connection, sessionId);
  sessions.set(sessionId, session);
  connection.setMaxListeners(connection.getMaxListeners() + 2);
  session.once(Janode.EVENT.SESSION_DESTROYED, () => {
    sessions.delete(sessionId);
    connection.setMaxListeners(connection.getMaxListeners() - 2);
  });
  const internals = session as unknown as SessionInternals;
  // janode's requests wait for ever; a Janus that stalls must not hold up the member's join.
  try {
    await withTimeout(internals.sendRequest({ janus: 'claim' }), timeoutMs, `Janus did not answer the claim within ${timeoutMs} ms`);
  } catch (error) {
    internals._signalDestroy();
    throw error;
  }
  const handles = handleIds.map((id) => {
    const handle = new VideoRoomPlugin.Handle(session as never, id as never);
    internals._handles.set(id, handle);
    session.setMaxListeners(session.getMaxListeners() + 1);
    handle.once(Janode.EVENT.HANDLE_DETACHED, () => {
      internals._handles.delete(id);
      session.setMaxListeners(session.getMaxListeners() - 1);
    });
    return handle;
  });
  return { session, handles };
}

/**
 * Forgets a session here without destroying it in Janus: another connection claimed it, and
 * its handles carry on there. (janode's destroy() would end them.)
 */
export function releaseSession(session: JanodeSession): void {
  (session as unknown as SessionInternals)._signalDestroy();
}
