// Janus's `claim` through janode (src/server/janus-claim.ts), against a real Janus: a session
// made on one connection, claimed on another, lives on when the first connection closes, and
// its handle answers through the claiming one; janode's tables and listener counts on the
// claiming connection are back where they were once the session is released or a claim fails.
import Janode, { type JanodeConnection } from 'janode';
import VideoRoomPlugin from 'janode/plugins/videoroom';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { claimSession, releaseSession } from '../../src/server/janus-claim.js';
import { startJanusProcess } from '../../src/server/janus-process.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** What janode keeps per connection: the sessions it routes messages to, and its listener budget. */
function tablesOf(connection: JanodeConnection): { sessions: number; maxListeners: number } {
  return { sessions: (connection as unknown as { _sessions: Map<number, unknown> })._sessions.size, maxListeners: connection.getMaxListeners() };
}

describe('claiming a Janus session made on another connection', () => {
  it('takes it over: it outlives the connection that made it, its handle answers here, and janode\'s tables return to where they were', async () => {
    // reclaim_session_timeout 0: a session whose connection closes goes at once, unless claimed.
    const janus = await startJanusProcess({ logger: silentLogger, reclaimSessionTimeoutS: 0 });
    cleanups.push(() => janus.stop());
    Janode.Logger.setLevel('none');
    const maker = await Janode.connect({ address: { url: janus.url } });
    const taker = await Janode.connect({ address: { url: janus.url } });
    cleanups.push(() => maker.close(), () => taker.close());
    const made = await maker.create();
    const handle = await made.attach(VideoRoomPlugin);
    const template = await taker.create();
    const before = tablesOf(taker);

    // A session Janus does not have: refused, and nothing is left behind.
    await expect(claimSession(taker, template, made.id + 1, [], 2000)).rejects.toThrow(/^458\b/);
    expect(tablesOf(taker)).toEqual(before);
    // One this connection already has: refused before asking Janus.
    await expect(claimSession(taker, template, template.id, [], 2000)).rejects.toThrow(/already this connection's/);

    const claimed = await claimSession(taker, template, made.id, [handle.id], 2000);
    expect(claimed.session.id).toBe(made.id);
    expect(claimed.handles.map((h) => h.id)).toEqual([handle.id]);
    expect(tablesOf(taker)).toEqual({ sessions: before.sessions + 1, maxListeners: before.maxListeners + 2 });
    expect(claimed.session.getMaxListeners()).toBe(made.getMaxListeners());
    // The connection that made it goes: Janus keeps the session, as it is the taker's now.
    await maker.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const room = 4242;
    await claimed.handles[0]!.create({ room, description: 'claim test', permanent: false });
    expect(await claimed.handles[0]!.exists({ room })).toEqual(expect.objectContaining({ exists: true }));

    // Released (another connection claimed it): forgotten here without ending it in Janus.
    releaseSession(claimed.session);
    expect(tablesOf(taker)).toEqual(before);
    const again = await claimSession(taker, template, made.id, [handle.id], 2000);
    expect(await again.handles[0]!.exists({ room })).toEqual(expect.objectContaining({ exists: true }));
    await again.session.destroy();
    expect(tablesOf(taker)).toEqual(before);
  });
});
