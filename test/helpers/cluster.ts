// A cluster for tests: the private redis-server and nginx of src/bench/services.ts, and
// signalling nodes in this process that join through that Redis.
import { silentLogger } from '../../src/log.js';
import { joinCluster } from '../../src/server/cluster-node.js';
import { startSignallingServer, type RunningServer, type SignallingServerOptions } from '../../src/server/signalling-server.js';

export { freePort, startNginx, startRedis, type Service } from '../../src/bench/services.js';

/** A signalling node in this process, joined to the cluster at `redisUrl`. */
export async function startNode(redisUrl: string, options: Partial<SignallingServerOptions> = {}): Promise<RunningServer> {
  const cluster = await joinCluster(redisUrl, options.logger ?? silentLogger);
  return startSignallingServer({ port: 0, cluster, ...options });
}
