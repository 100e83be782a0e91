// Which rooms carry their audio through the SFU, and the link between those rooms' members and
// the Janus driver. When Janus is lost, SFU rooms fall back to the mesh and their members are
// told (`media-changed`); a reconnect loop brings Janus back (restarting it for --janus auto),
// and the rooms return to the SFU by themselves.
import type { Logger } from '../log.js';
import type { MediaMode, SfuOffer } from '../protocol.js';
import type { JanusDriver } from './janus-driver.js';

export interface SfuRoomsHooks {
  /** Sends a subscriber offer to a member's socket. */
  offer(memberId: string, offer: SfuOffer): void;
  /** Janus heard a member start or stop talking. */
  talking(memberId: string, talking: boolean): void;
  /** A room's media changed: tell its members. */
  mediaChanged(room: string, media: MediaMode, reason: string): void;
  /** The ids of a room's members now. */
  membersOf(room: string): string[];
}

/** How often a lost Janus is tried again. */
const RECONNECT_EVERY_MS = 2000;

export class SfuRooms {
  private driver: JanusDriver | null;
  /** Members of rooms that now run through the SFU, and their rooms. */
  private readonly sfuMembers = new Map<string, string>();
  /** Rooms that want the SFU and fell back to the mesh while Janus is away. */
  private readonly waiting = new Set<string>();
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly wanted: MediaMode,
    driver: JanusDriver | null,
    private readonly hooks: SfuRoomsHooks,
    private readonly logger: Logger,
    /** Connects a new driver after a loss (for --janus auto, restarting Janus first). */
    private readonly reconnect: (() => Promise<JanusDriver>) | null = null,
  ) {
    this.driver = null;
    if (driver) this.attach(driver);
  }

  /** How a room carries audio now. */
  mediaFor(room: string): MediaMode {
    if (this.wanted !== 'sfu') return 'mesh';
    return this.driver?.available && !this.waiting.has(room) ? 'sfu' : 'mesh';
  }

  get janus(): JanusDriver | null {
    return this.driver;
  }

  isSfuMember(memberId: string): boolean {
    return this.sfuMembers.has(memberId) && this.driver !== null;
  }

  /** A member joined a room that runs through the SFU. */
  join(room: string, memberId: string): Promise<void> {
    const driver = this.driver;
    if (!driver) return Promise.reject(new Error('the media server is not connected'));
    this.sfuMembers.set(memberId, room);
    return driver.join(room, memberId);
  }

  leave(memberId: string): void {
    if (!this.sfuMembers.delete(memberId)) return;
    this.driver?.leave(memberId).catch((error: Error) => this.logger.warn('Janus: leaving failed', { member: memberId, error: error.message }));
  }

  /** The driver, for a member of an SFU room; throws a sentence otherwise. */
  driverFor(memberId: string): JanusDriver {
    if (!this.driver || !this.sfuMembers.has(memberId)) throw new Error('the media server is not connected');
    return this.driver;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
  }

  private attach(driver: JanusDriver): void {
    this.driver = driver;
    driver.on('offer', ({ member, sdp, streams }) => this.hooks.offer(member, { sdp, streams }));
    driver.on('talking', ({ member, talking }) => this.hooks.talking(member, talking));
    driver.once('lost', (reason) => this.onLost(driver, reason));
  }

  /** Every SFU room falls back to the mesh, and the reconnect loop starts. */
  private onLost(driver: JanusDriver, reason: string): void {
    if (this.driver !== driver || this.closed) return;
    this.driver = null;
    const rooms = new Set(this.sfuMembers.values());
    this.sfuMembers.clear();
    for (const room of rooms) {
      this.waiting.add(room);
      this.hooks.mediaChanged(room, 'mesh', `the media server is unavailable (${reason}); connecting directly until it is back`);
    }
    this.logger.warn('Janus lost: SFU rooms fall back to the mesh', { rooms: rooms.size, reason });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.reconnect || this.reconnectTimer || this.closed) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.reconnect!().then(
        (driver) => {
          if (this.closed) return void driver.close();
          this.attach(driver);
          this.logger.info('Janus is back: rooms return to the SFU', { rooms: this.waiting.size });
          for (const room of [...this.waiting]) {
            this.waiting.delete(room);
            this.hooks.mediaChanged(room, 'sfu', 'the media server is back');
            for (const memberId of this.hooks.membersOf(room)) {
              this.join(room, memberId).catch((error: Error) => this.logger.warn('Janus: rejoin failed', { member: memberId, error: error.message }));
            }
          }
        },
        (error: Error) => {
          this.logger.debug('Janus still unavailable', { error: error.message });
          this.scheduleReconnect();
        },
      );
    }, RECONNECT_EVERY_MS);
    this.reconnectTimer.unref();
  }
}
