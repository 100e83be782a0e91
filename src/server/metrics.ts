// Prometheus metrics for GET /metrics. prom-client gives the exposition format and process
// metrics (CPU, memory, event-loop lag) for free, which is why it is a dependency.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreCounts } from './room-store.js';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly joins = new Counter({ name: 'voxroom_joins_total', help: 'Successful joins', registers: [this.registry] });
  readonly signalsRelayed = new Counter({ name: 'voxroom_signals_relayed_total', help: 'Signals relayed between peers', registers: [this.registry] });
  readonly rejected = new Counter({
    name: 'voxroom_rejected_messages_total',
    help: 'Incoming messages refused, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly floodDisconnects = new Counter({ name: 'voxroom_flood_disconnects_total', help: 'Sockets disconnected for sending too many refused events', registers: [this.registry] });

  readonly refusedConnections = new Counter({
    name: 'voxroom_refused_connections_total',
    help: 'Connections refused before any handler ran: by web origin, per-address or total limit',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor(counts: () => Promise<StoreCounts>) {
    // One read of the store per scrape, shared by every gauge of that scrape.
    let scrape: Promise<StoreCounts> | null = null;
    const read = async (): Promise<StoreCounts> => {
      scrape ??= counts().finally(() => setImmediate(() => (scrape = null)));
      return scrape;
    };
    const gauge = (name: string, help: string, value: (c: StoreCounts) => number | undefined): void => {
      new Gauge({ name, help, registers: [this.registry], async collect() { const v = value(await read()); if (v !== undefined) this.set(v); } });
    };
    gauge('voxroom_rooms', 'Rooms with at least one peer on this node', (c) => c.rooms);
    gauge('voxroom_peers', 'Peers in rooms whose socket this node carries (all peers on a single node)', (c) => c.peers);
    gauge('voxroom_cluster_rooms', 'A cluster: rooms with at least one peer on any node', (c) => c.cluster?.rooms);
    gauge('voxroom_cluster_peers', 'A cluster: members of every room, away ones included', (c) => c.cluster?.peers);
    gauge('voxroom_cluster_nodes', 'A cluster: nodes that announced themselves', (c) => c.cluster?.nodes);
    gauge('voxroom_redis_up', 'A cluster: 1 while this node reaches Redis', (c) => (c.cluster ? (c.cluster.redis === 'up' ? 1 : 0) : undefined));
    collectDefaultMetrics({ register: this.registry, prefix: 'voxroom_process_' });
  }
}
