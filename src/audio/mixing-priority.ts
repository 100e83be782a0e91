// The thread that mixes runs every 10 ms and must not wait for the CPU when its tick is due.
// In a process with many peers it competes with wrtc's real-time threads (which decode, encode
// and pace at SCHED_FIFO and preempt it anyway) and with everything else at the default
// priority: Janus, other processes, the kernel's normal work. Measured on a 2-core machine, the
// main thread of a load process was runnable but waiting for a CPU 49–60 % of the time. Like
// PulseAudio (nice-level -11, high-priority = yes, by default), a peer process asks for a
// higher nice level for the thread it mixes in, and carries on as it is when the system does
// not allow it (an unprivileged user without CAP_SYS_NICE or an RLIMIT_NICE allowance).
import { getPriority, setPriority } from 'node:os';

/** PulseAudio's default nice level for its daemon. */
export const MIXING_NICE = -11;

export type PriorityOutcome = { raised: true; nice: number } | { raised: false; nice: number; reason: string };

/**
 * Raises the calling thread's priority (Linux: a nice level is per thread, and setpriority for
 * "this process" sets the calling thread's; threads it starts afterwards inherit it, threads
 * that exist keep theirs). Never throws: the outcome says what happened.
 */
export function raiseMixingPriority(nice: number = MIXING_NICE): PriorityOutcome {
  try {
    const before = getPriority();
    // Never lower a priority someone already raised further (a `nice -n -15 voxroom …`).
    if (before <= nice) return { raised: true, nice: before };
    setPriority(nice);
    return { raised: true, nice: getPriority() };
  } catch (error) {
    return { raised: false, nice: safeCurrentPriority(), reason: error instanceof Error ? error.message : String(error) };
  }
}

function safeCurrentPriority(): number {
  try {
    return getPriority();
  } catch {
    return 0;
  }
}
