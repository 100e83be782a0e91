// Walking in a spatial room: the server moves a member at most at walking speed per move and
// says when it cut a move short, so a walk is the target asked for again every 100 ms until
// the member stands there. A new walk, jump or turn takes over from the one under way.
import { LIMITS, type MoveAck, type MoveRequest, type Position } from '../protocol.js';
import { MoveError } from './signalling-client.js';

/** Asks for the target this often: 10 moves a second, half the server's cap, each ≤ 0.5 m. */
export const WALK_STEP_MS = 100;

type Mover = (request: MoveRequest) => Promise<Extract<MoveAck, { ok: true }>>;

export class Walker {
  private current: { cancelled: boolean } | null = null;

  constructor(
    private readonly move: Mover,
    private readonly stepMs = WALK_STEP_MS,
  ) {}

  /** Walks to (x, y); resolves where the walk ended (the target, or where a newer move took over). */
  async walkTo(x: number, y: number): Promise<Position> {
    const walk = this.takeOver();
    for (;;) {
      let answer: Extract<MoveAck, { ok: true }>;
      try {
        answer = await this.move({ x, y });
      } catch (error) {
        // Someone else's moves (a turn) used up this second's moves: keep walking after a pause.
        if (!(error instanceof MoveError && error.code === 'too-many-moves')) throw error;
        await sleep(this.stepMs);
        if (walk.cancelled) throw new MoveError('too-many-moves', `the walk was interrupted; at most ${LIMITS.maxMovesPerSecond} moves a second`);
        continue;
      }
      if (!answer.shortened || walk.cancelled) return answer.position;
      await sleep(this.stepMs);
      if (walk.cancelled) return answer.position;
    }
  }

  /** One move (a jump to a spot, a turn): any walk under way stops where it is. */
  async once(request: MoveRequest): Promise<Position> {
    if (!('facing' in request)) this.takeOver();
    return (await this.move(request)).position;
  }

  stop(): void {
    if (this.current) this.current.cancelled = true;
    this.current = null;
  }

  private takeOver(): { cancelled: boolean } {
    this.stop();
    const walk = { cancelled: false };
    this.current = walk;
    return walk;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
