// A Node ws broadcast server for bench/peers.py: a room per URL path, every text (or binary)
// frame a member sends goes to every other member of its room, as the ws README's broadcast
// example does. Usage: node server.js PORT (listens on 127.0.0.1 only).
'use strict';
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2]);
const rooms = new Map(); // path -> Set of sockets
const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404).end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });

wss.on('connection', (ws, req) => {
  const room = new URL(req.url, 'http://x').pathname;
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const m of members)
      if (m !== ws && m.readyState === WebSocket.OPEN) m.send(data, { binary: isBinary });
  });
  ws.on('close', () => {
    members.delete(ws);
    if (!members.size) rooms.delete(room);
  });
});
server.listen(port, '127.0.0.1', 4096);
