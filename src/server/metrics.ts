// Prometheus metrics for GET /metrics. prom-client gives the exposition format and process
// metrics (CPU, memory, event-loop lag) for free, which is why it is a dependency.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor(counts: { rooms: () => number; peers: () => number }) {
    new Gauge({ name: 'voxroom_rooms', help: 'Rooms with at least one peer', registers: [this.registry], collect() { this.set(counts.rooms()); } });
    new Gauge({ name: 'voxroom_peers', help: 'Peers in rooms', registers: [this.registry], collect() { this.set(counts.peers()); } });
    collectDefaultMetrics({ register: this.registry, prefix: 'voxroom_process_' });
  }
}
