// The thread that mixes runs every 10 ms and must not wait for the CPU when its tick is due.
// In a process with many peers it competes with wrtc's real-time threads (which decode, encode
// and pace at SCHED_FIFO and preempt it anyway) and with everything else at the default
// priority: Janus, other processes, the kernel's normal work. Measured on a 2-core machine, the
// main thread of a load process was runnable but waiting for a CPU 49–60 % of the time. Like
// PulseAudio (nice-level -11, high-priority = yes, by default), a peer process asks for a
// higher nice level for the thread it mixes in, and carries on as it is when the system does
// not allow it (an unprivileged user without CAP_SYS_NICE or an RLIMIT_NICE allowance).
import { readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** PulseAudio's default nice level for its daemon. */
export const MIXING_NICE = -11;

export interface PriorityOutcome {
  /** The calling thread's nice level now. */
  nice: number;
  /** Why it is not at the level asked for (absent when it is, or was already higher). */
  refusal?: string;
}

/**
 * Raises the calling thread's priority (on Linux a nice level is per thread, and setpriority for
 * "this process" sets the calling thread's; threads and child processes it starts afterwards
 * inherit it, threads that exist keep theirs). Where only part of the way is allowed
 * (RLIMIT_NICE), goes as far as it may. Never throws.
 */
export function raiseMixingPriority(target: number = MIXING_NICE): PriorityOutcome {
  const before = currentNice();
  // Never lower a priority someone already raised further (a `nice -n -15 voxroom …`).
  if (before <= target) return { nice: before };
  try {
    setPriority(target);
    return { nice: currentNice() };
  } catch (error) {
    const refusal = error instanceof Error ? error.message : String(error);
    const allowed = lowestAllowedNice();
    if (allowed !== null && allowed > target && allowed < before) {
      try {
        setPriority(allowed);
      } catch {
        // as refused
      }
    }
    return { nice: currentNice(), refusal };
  }
}

function currentNice(): number {
  try {
    return getPriority();
  } catch {
    return 0;
  }
}

/** The lowest nice level RLIMIT_NICE lets an unprivileged thread set (20 − its soft limit), if known. */
function lowestAllowedNice(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max nice priority'));
    const soft = line ? Number(line.slice('Max nice priority'.length).trim().split(/\s+/)[0]) : NaN;
    return Number.isFinite(soft) ? 20 - soft : null;
  } catch {
    return null;
  }
}
