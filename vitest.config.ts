import { defineConfig } from 'vitest/config';

// vitest 5 targets Node >= 22; its failure reporter calls Map.groupBy (Node 21+). On Node 20 a
// failing test would crash the reporter instead of being reported, so supply it here.
const mapWithGroupBy = Map as unknown as { groupBy?: <K, V>(items: Iterable<V>, key: (item: V, index: number) => K) => Map<K, V[]> };
mapWithGroupBy.groupBy ??= <K, V>(items: Iterable<V>, key: (item: V, index: number) => K): Map<K, V[]> => {
  const groups = new Map<K, V[]>();
  let index = 0;
  for (const item of items) {
    const k = key(item, index++);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
};

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real-time audio suites must not compete for the two cores: one file at a time, in forks
    // (wrtc's native threads are not safe in worker_threads).
    pool: 'forks',
    // --expose-gc lets the resource-stability tests measure memory after a collection.
    execArgv: ['--expose-gc'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
