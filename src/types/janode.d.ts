// The part of janode (Meetecho's Janus client, plain JavaScript) that voxroom uses, typed.
declare module 'janode' {
  import type { EventEmitter } from 'node:events';

  export interface JanusJsep {
    type: 'offer' | 'answer';
    sdp: string;
  }

  export interface JanodeHandle extends EventEmitter {
    readonly id: number;
    detach(): Promise<void>;
    trickle(candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }): Promise<void>;
    trickleComplete(): Promise<void>;
  }

  export interface JanodeSession extends EventEmitter {
    readonly id: number;
    attach<H extends JanodeHandle>(plugin: { id: string; Handle: new (...args: never[]) => H }): Promise<H>;
    destroy(): Promise<void>;
  }

  export interface JanodeConnection extends EventEmitter {
    create(keepAliveSeconds?: number): Promise<JanodeSession>;
    close(): Promise<void>;
    listSessions(): Promise<{ sessions: number[] }>;
    listHandles(sessionId: number): Promise<{ handles: number[] }>;
    handleInfo(sessionId: number, handleId: number): Promise<{ info: Record<string, unknown> }>;
    /** Janus's `info` reply: its version, settings and plugins. */
    getInfo(): Promise<Record<string, unknown>>;
  }

  interface JanodeModule {
    connect(config: { is_admin?: boolean; address: { url: string; apisecret?: string } | Array<{ url: string; apisecret?: string }>; retry_time_secs?: number; max_retries?: number }): Promise<JanodeConnection>;
    Logger: { setLevel(level: 'none' | 'error' | 'warning' | 'info' | 'verbose' | 'debug'): void };
    EVENT: {
      CONNECTION_CLOSED: string;
      CONNECTION_ERROR: string;
      SESSION_DESTROYED: string;
      HANDLE_DETACHED: string;
      HANDLE_HANGUP: string;
      HANDLE_WEBRTCUP: string;
    };
  }
  const Janode: JanodeModule;
  export default Janode;
}

declare module 'janode/plugins/videoroom' {
  import type { JanodeHandle, JanusJsep } from 'janode';

  export interface VideoRoomStream {
    mid: string;
    type: string;
    feed_id?: number;
    feed_mid?: string;
    active?: boolean;
  }

  export interface VideoRoomPublisher {
    feed: number;
    display?: string;
    talking?: boolean;
  }

  export interface VideoRoomHandle extends JanodeHandle {
    feed?: number;
    create(params: {
      room?: number;
      description?: string;
      max_publishers?: number;
      permanent?: boolean;
      is_private?: boolean;
      audiocodec?: string;
      talking_events?: boolean;
      talking_level_threshold?: number;
      talking_packets_threshold?: number;
      notify_joining?: boolean;
    }): Promise<{ room: number }>;
    destroy(params: { room: number }): Promise<unknown>;
    exists(params: { room: number }): Promise<{ exists: boolean }>;
    joinConfigurePublisher(params: { room: number; feed?: number; audio?: boolean; video?: boolean; data?: boolean; display?: string; jsep: JanusJsep }): Promise<{ feed: number; jsep?: JanusJsep; publishers: VideoRoomPublisher[] }>;
    /** Joins as a participant that publishes nothing (yet): it is told of the room's publishers and their talking. */
    joinPublisher(params: { room: number; display?: string }): Promise<{ feed: number; publishers?: VideoRoomPublisher[] }>;
    joinSubscriber(params: { room: number; streams: Array<{ feed: number; mid?: string }>; autoupdate?: boolean }): Promise<{ jsep?: JanusJsep; streams?: VideoRoomStream[] }>;
    start(params: { jsep: JanusJsep }): Promise<unknown>;
    update(params: { subscribe?: Array<{ feed: number; mid?: string }>; unsubscribe?: Array<{ feed: number; mid?: string }> }): Promise<{ jsep?: JanusJsep; streams?: VideoRoomStream[] }>;
    listParticipants(params: { room: number }): Promise<{ participants: Array<{ feed: number; display?: string; publisher: boolean; talking?: boolean }> }>;
    leave(): Promise<unknown>;
    switch(params: { streams: Array<{ feed: number; mid: string; sub_mid: string }> }): Promise<unknown>;
    /** Publishers (multistream): `send: false` makes Janus stop relaying that stream to every subscriber. */
    configure(params: { streams: Array<{ mid: string; send: boolean }> }): Promise<unknown>;
  }

  const VideoRoomPlugin: {
    id: string;
    Handle: new (...args: never[]) => VideoRoomHandle;
    EVENT: {
      VIDEOROOM_PUB_LIST: string;
      VIDEOROOM_PUB_PEER_JOINED: string;
      VIDEOROOM_UNPUBLISHED: string;
      VIDEOROOM_LEAVING: string;
      VIDEOROOM_TALKING: string;
      VIDEOROOM_UPDATED: string;
      VIDEOROOM_SWITCHED: string;
      VIDEOROOM_DESTROYED: string;
      VIDEOROOM_ERROR: string;
    };
  };
  export default VideoRoomPlugin;
}
