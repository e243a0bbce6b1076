#!/usr/bin/env node
// WebSocket fan-out baseline: the Node.js equivalent of the gateway's raw-mode /ws endpoint.
//
//   ws://127.0.0.1:PORT/ws?subscribe=<topic>[&subscribe=<topic>...]&publish=<topic>
//
// Every message a client sends is published to its `publish` topic (a client without one
// gets close code 1008, like the gateway); every client subscribed to that topic receives it
// as one WebSocket message of the same type (text or binary). Topics are matched exactly
// (no MQTT-style wildcards: the benchmark only needs exact topics).
//
// Written as a competent Node developer would, with the standard `ws` API only:
//   - one http server, `WebSocketServer({ noServer: true })`, the upgrade is handled for /ws only;
//   - a Map topic -> Set of subscribed sockets; a publish iterates the Set and calls
//     ws.send(data, { binary }) for each open socket (ws frames the message per socket);
//   - permessage-deflate off (the ws default for servers), so the gateway is not
//     compared against compression; a ping every 30 s to idle-check clients, as the
//     gateway's KeepAliveInterval does.
//
// Usage: node bench/peers/node-ws-fanout.js [PORT]   (or env PORT; default 8180)
'use strict';

const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 8180);
const host = process.env.HOST || '127.0.0.1';

const topics = new Map(); // topic -> Set<WebSocket>

function subscribe(ws, topic) {
  let set = topics.get(topic);
  if (!set) {
    set = new Set();
    topics.set(topic, set);
  }
  set.add(ws);
}

function unsubscribe(ws, topic) {
  const set = topics.get(topic);
  if (!set) return;
  set.delete(ws);
  if (set.size === 0) topics.delete(topic);
}

const server = http.createServer((req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' });
  res.end('WebSocket upgrade required\n');
});

const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, url));
});

wss.on('connection', (ws, url) => {
  const subs = url.searchParams.getAll('subscribe').filter((t) => t.length > 0);
  const publish = url.searchParams.get('publish');
  for (const t of subs) subscribe(ws, t);
  ws.isAlive = true;

  ws.on('pong', () => { ws.isAlive = true; });
  ws.on('message', (data, isBinary) => {
    if (!publish) {
      ws.close(1008, 'no publish topic');
      return;
    }
    const set = topics.get(publish);
    if (!set) return;
    for (const peer of set) {
      if (peer.readyState === WebSocket.OPEN) peer.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => {
    for (const t of subs) unsubscribe(ws, t);
  });
  ws.on('error', () => { /* 'close' follows */ });
});

// Keep-alive: drop clients that did not answer the previous ping.
const keepAlive = setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.isAlive) { ws.terminate(); continue; }
    ws.isAlive = false;
    ws.ping();
  }
}, 30000);
keepAlive.unref();

server.listen(port, host, () => {
  console.log(`listening ws://${host}:${port}/ws`);
});

function shutdown() {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
