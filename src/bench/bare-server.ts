// Baseline for the signalling benchmark: a bare socket.io server that does the same job as
// voxroom's (rooms, the member list in the join ack, a member-joined event to the others, relay)
// with no validation, limits, registry or metrics.
// Run as `node dist/bench/bare-server.js`; prints its port.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { serveClient: false });
const names = new Map<string, string>();

io.on('connection', (socket) => {
  socket.on('join', (request: { room: string; name: string }, ack: (reply: unknown) => void) => {
    names.set(socket.id, request.name);
    void socket.join(request.room);
    const ids = [...(io.sockets.adapter.rooms.get(request.room) ?? [])];
    const peers = ids.map((id) => ({ id, name: names.get(id) ?? '', state: { muted: false, speaking: false } }));
    const self = { id: socket.id, name: request.name, state: { muted: false, speaking: false } };
    ack({ ok: true, self, peers: peers.filter((p) => p.id !== socket.id) });
    socket.to(request.room).emit('member-joined', { room: request.room, member: self });
  });
  socket.on('signal', (request: { to: string; data: unknown }) => {
    io.to(request.to).emit('signal', { from: socket.id, data: request.data });
  });
  socket.on('disconnect', () => names.delete(socket.id));
});

http.listen(0, '127.0.0.1', () => process.stdout.write(`${(http.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => {
  void io.close();
  process.exit(0);
});
