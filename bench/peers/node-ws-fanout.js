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
// With a NATS URL, several such processes share their topics the way gateways on the NATS backplane do
// (bench/run-backplane.sh), with the `nats` package's standard API:
//   - a message a client sends goes first to this process's subscribers, then once to NATS, on the subject
//     "gw." + the topic's levels joined by "." with the headers the gateway sends (message id, content type,
//     source endpoint, connection, timestamp);
//   - each topic this process's clients subscribe to holds one NATS subscription: the first subscriber
//     subscribes, the last one leaving unsubscribes;
//   - what arrives from NATS goes to this process's subscribers of that topic, text or binary by its content
//     type; the connection has no echo, so a process never gets its own publishes back.
//
// Usage: node bench/peers/node-ws-fanout.js [PORT] [NATS_URL]   (or env PORT; default 8180)
'use strict';

const http = require('http');
const crypto = require('crypto');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 8180);
const natsUrl = process.argv[3];
const host = process.env.HOST || '127.0.0.1';

const topics = new Map(); // topic -> Set<WebSocket>
const nats = natsUrl ? natsLink(natsUrl) : null;

function deliver(topic, data, isBinary) {
  const set = topics.get(topic);
  if (!set) return;
  for (const peer of set) {
    if (peer.readyState === WebSocket.OPEN) peer.send(data, { binary: isBinary });
  }
}

function subscribe(ws, topic) {
  let set = topics.get(topic);
  if (!set) {
    set = new Set();
    topics.set(topic, set);
    nats?.subscribe(topic);
  }
  set.add(ws);
}

function unsubscribe(ws, topic) {
  const set = topics.get(topic);
  if (!set) return;
  set.delete(ws);
  if (set.size === 0) {
    topics.delete(topic);
    nats?.unsubscribe(topic);
  }
}

/** The process's NATS connection: publish once per message, one subscription per locally subscribed topic. */
function natsLink(url) {
  const { connect, headers: natsHeaders } = require('nats');
  const instanceId = crypto.randomBytes(6).toString('hex');
  const subjectOf = (topic) => 'gw.' + topic.split('/').join('.');
  const subscriptions = new Map(); // topic -> nats Subscription
  let lastId = 0;
  let nc = null;
  return {
    async connect() {
      nc = await connect({ servers: url, noEcho: true, name: `node-ws-fanout-${instanceId}`, maxReconnectAttempts: -1 });
    },
    subscribe(topic) {
      subscriptions.set(topic, nc.subscribe(subjectOf(topic), {
        callback: (err, msg) => {
          if (err) return;
          const data = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
          deliver(topic, data, msg.headers?.get('Content-Type') !== 'text/plain');
        },
      }));
    },
    unsubscribe(topic) {
      subscriptions.get(topic)?.unsubscribe();
      subscriptions.delete(topic);
    },
    publish(topic, data, isBinary, connectionId, remote) {
      const h = natsHeaders();
      h.set('Nats-Msg-Id', `${instanceId}-${++lastId}`);
      h.set('Content-Type', isBinary ? 'application/octet-stream' : 'text/plain');
      h.set('Gw-Source-Endpoint', 'ws');
      h.set('Gw-Connection-Id', connectionId);
      h.set('Gw-Remote-Address', remote);
      h.set('Gw-Timestamp', new Date().toISOString());
      nc.publish(subjectOf(topic), data, { headers: h });
    },
    close: () => nc?.close(),
  };
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
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, url, req));
});

let nextConnection = 0;

wss.on('connection', (ws, url, req) => {
  const subs = url.searchParams.getAll('subscribe').filter((t) => t.length > 0);
  const publish = url.searchParams.get('publish');
  const connectionId = String(++nextConnection);
  const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  for (const t of subs) subscribe(ws, t);
  ws.isAlive = true;

  ws.on('pong', () => { ws.isAlive = true; });
  ws.on('message', (data, isBinary) => {
    if (!publish) {
      ws.close(1008, 'no publish topic');
      return;
    }
    deliver(publish, data, isBinary);
    nats?.publish(publish, data, isBinary, connectionId, remote);
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

(nats ? nats.connect() : Promise.resolve()).then(() => {
  server.listen(port, host, () => {
    console.log(`listening ws://${host}:${port}/ws${nats ? `, sharing topics through NATS at ${natsUrl}` : ''}`);
  });
}, (err) => {
  console.error(`node-ws-fanout: NATS: ${err.message}`);
  process.exit(1);
});

function shutdown() {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => Promise.resolve(nats?.close()).finally(() => process.exit(0)));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
