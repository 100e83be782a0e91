// Fault injection for tests: holds each incoming message of a socket for a random time before
// the server handles it. Messages of one socket stay in order (socket.io guarantees that, and
// clients rely on it); messages of different sockets overtake each other. Used to prove that
// negotiation survives slow, uneven signalling (`voxroom serve --inject-delay MS`).
export class DelayInjector {
  /** When the last message of each socket is released, so the next one is never earlier. */
  private readonly releaseAt = new Map<string, number>();

  constructor(
    private readonly maxDelayMs: number,
    private readonly random: () => number = Math.random,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** How long to hold a message that arrives now on `socketId`. */
  delayFor(socketId: string): number {
    const now = this.now();
    const release = Math.max(this.releaseAt.get(socketId) ?? 0, now + this.random() * this.maxDelayMs);
    this.releaseAt.set(socketId, release);
    return release - now;
  }

  forget(socketId: string): void {
    this.releaseAt.delete(socketId);
  }
}
