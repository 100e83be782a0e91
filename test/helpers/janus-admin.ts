// Janus's own view, through its Admin API (the test's Janus enables it on loopback with a fresh
// secret): which VideoRoom handles exist and what each carries. Independent of voxroom's driver.
import Janode from 'janode';
import type { JanusProcess } from '../../src/server/janus-process.js';

export interface VideoRoomHandleInfo {
  handle: number;
  /** "publisher" or "subscriber" (Janus's names). */
  type: string;
  /** Streams the handle carries now (for a subscriber: the speakers forwarded to it). */
  activeStreams: number;
}

export async function videoRoomHandles(janus: JanusProcess): Promise<VideoRoomHandleInfo[]> {
  const admin = await Janode.connect({ is_admin: true, address: { url: janus.adminUrl, apisecret: janus.adminSecret } });
  try {
    const handles: VideoRoomHandleInfo[] = [];
    const { sessions } = await admin.listSessions();
    for (const session of sessions) {
      const { handles: ids } = await admin.listHandles(session);
      for (const id of ids) {
        const { info } = await admin.handleInfo(session, id);
        const specific = info['plugin_specific'] as { type?: string; streams?: Array<{ active?: boolean; type?: string; send?: boolean }> } | undefined;
        if (info['plugin'] !== 'janus.plugin.videoroom' || !specific?.type || specific.type === 'none') continue;
        const streams = (specific.streams ?? []).filter((stream) => stream.type === 'audio' && stream.active !== false);
        handles.push({ handle: id, type: specific.type, activeStreams: streams.length });
      }
    }
    return handles;
  } finally {
    await admin.close();
  }
}
