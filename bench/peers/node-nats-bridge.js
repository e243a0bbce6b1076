'use strict';
// Node.js peer of the gateway with its NATS backplane (bench/run-backplane-tcp.sh): TCP endpoints whose connections publish
// to and subscribe to topics, delivered locally and shared with other instances through NATS, the way the gateway's
// Gateway:Backplane:Kind=Nats does it:
//   - a frame a connection sends goes first to this instance's subscribers of its topic, then once to NATS, on the
//     subject "gw." + the topic's levels joined by "." (topic "xfer/data": subject "gw.xfer.data"), with the headers the
//     gateway sends (message id, source endpoint, connection, remote address, timestamp);
//   - each distinct local subscription filter holds one NATS subscription, counted: the first local subscriber
//     subscribes on NATS, the last one leaving unsubscribes;
//   - what arrives from NATS (headers read, as the gateway reads them) goes to the local subscribers of the filter
//     whose subscription received it; the NATS connection has no echo, so an instance never gets its own publishes.
// Topics and filters are matched exactly: no wildcards, which the benchmark does not use (the gateway has them).
//
// Written as a competent Node developer would, with `net` and the `nats` package only: one 'data' event's frames are
// parsed without copying, a socket's writes within one tick are corked into one writev, a socket that closes
// unsubscribes, errors do not crash the process. Unlike the gateway there is no outbox bound (a slow subscriber
// buffers without limit) and no probe connection checking that NATS still delivers.
//
// usage: node node-nats-bridge.js NATS_URL ENDPOINT...
//   ENDPOINT = name:port:framing:publish:subscribe   framing "length" (4-byte big-endian length, then the body) or
//   "line" (a body, then "\n"); publish a topic template or empty; subscribe filter templates separated by "," or
//   empty. Templates may use {endpoint} and {connectionId}.
//   e.g. node node-nats-bridge.js nats://127.0.0.1:4222 xpub:9500:length:xfer/data: storm:9502:line::storm/{connectionId}
// env HOST (default 127.0.0.1)

const net = require('net');
const crypto = require('crypto');
const { connect, headers: natsHeaders } = require('nats');

const [natsUrl, ...endpointSpecs] = process.argv.slice(2);
const host = process.env.HOST || '127.0.0.1';
const MAX_FRAME = 16 * 1024 * 1024;
const instanceId = crypto.randomBytes(6).toString('hex');
if (!natsUrl || endpointSpecs.length === 0) {
  console.error('usage: node node-nats-bridge.js NATS_URL name:port:length|line:publish:subscribe ...');
  process.exit(2);
}

const endpoints = endpointSpecs.map((spec) => {
  const [name, port, framing, publish, subscribe] = spec.split(':');
  if (!name || !Number(port) || !['length', 'line'].includes(framing)) {
    console.error(`node-nats-bridge: bad endpoint "${spec}"`);
    process.exit(2);
  }
  return { name, port: Number(port), framing, publish: publish || null, subscribe: (subscribe || '').split(',').filter(Boolean) };
});

const render = (template, endpoint, connectionId) =>
  template.replaceAll('{endpoint}', endpoint).replaceAll('{connectionId}', connectionId);
const subjectOf = (topic) => 'gw.' + topic.split('/').join('.');

let nc;
let nextConnection = 0;
let nextMessage = 0;
const filters = new Map(); // filter -> { connections: Set<Connection>, sub }

// ---------- sending to a connection: one writev per socket per tick ----------
function uncork(connection) {
  connection.corked = false;
  connection.socket.uncork();
}

function send(connection, payload) {
  if (connection.closed) return;
  const socket = connection.socket;
  if (!connection.corked) {
    connection.corked = true;
    socket.cork();
    process.nextTick(uncork, connection);
  }
  if (connection.framing === 'length') {
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32BE(payload.length);
    socket.write(header);
    socket.write(payload);
  } else {
    socket.write(payload);
    socket.write('\n');
  }
}

function deliverLocal(filter, payload) {
  const entry = filters.get(filter);
  if (!entry) return 0;
  for (const connection of entry.connections) send(connection, payload);
  return entry.connections.size;
}

// ---------- subscriptions ----------
function onNatsMessage(filter, err, msg) {
  if (err) return;
  // The gateway reads the headers into the message it delivers (source, connection, remote address, time).
  const h = msg.headers;
  if (h) {
    h.get('Gw-Source-Endpoint');
    h.get('Gw-Connection-Id');
    h.get('Gw-Remote-Address');
    const timestamp = h.get('Gw-Timestamp');
    if (timestamp) Date.parse(timestamp);
  }
  const data = msg.data;
  deliverLocal(filter, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

function addInterest(filter, connection) {
  let entry = filters.get(filter);
  if (!entry) {
    entry = { connections: new Set(), sub: null };
    filters.set(filter, entry);
    entry.sub = nc.subscribe(subjectOf(filter), { callback: (err, msg) => onNatsMessage(filter, err, msg) });
  }
  entry.connections.add(connection);
}

function removeInterest(filter, connection) {
  const entry = filters.get(filter);
  if (!entry || !entry.connections.delete(connection)) return;
  if (entry.connections.size === 0) {
    filters.delete(filter);
    entry.sub.unsubscribe();
  }
}

// ---------- publishing ----------
function publish(connection, payload) {
  deliverLocal(connection.publish, payload);
  const h = natsHeaders();
  h.set('Nats-Msg-Id', `${instanceId}-${++nextMessage}`);
  h.set('Gw-Source-Endpoint', connection.endpoint);
  h.set('Gw-Timestamp', new Date().toISOString());
  h.set('Gw-Connection-Id', connection.id);
  h.set('Gw-Remote-Address', connection.remote);
  nc.publish(connection.subject, payload, { headers: h });
}

// ---------- TCP endpoints ----------
function onConnection(endpoint, socket) {
  socket.setNoDelay(true);
  const id = `${instanceId}${(++nextConnection).toString(36)}`;
  const connection = {
    id, socket, endpoint: endpoint.name, framing: endpoint.framing, corked: false, closed: false,
    remote: `${socket.remoteAddress}:${socket.remotePort}`,
    publish: endpoint.publish && render(endpoint.publish, endpoint.name, id),
    subscribe: endpoint.subscribe.map((f) => render(f, endpoint.name, id)),
  };
  connection.subject = connection.publish && subjectOf(connection.publish);
  for (const filter of connection.subscribe) addInterest(filter, connection);

  let pending = [];
  let pendingLen = 0;
  let needed = endpoint.framing === 'length' ? 4 : 1;
  socket.on('data', (chunk) => {
    if (pendingLen > 0) {
      pending.push(chunk);
      pendingLen += chunk.length;
      if (pendingLen < needed) return;
      chunk = Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
    }
    let off = 0;
    if (endpoint.framing === 'length') {
      while (chunk.length - off >= 4) {
        const len = chunk.readUInt32BE(off);
        if (len > MAX_FRAME) return socket.destroy();
        if (chunk.length - off - 4 < len) break;
        if (connection.publish) publish(connection, chunk.subarray(off + 4, off + 4 + len));
        off += 4 + len;
      }
    } else {
      let nl;
      while ((nl = chunk.indexOf(10, off)) >= 0) {
        if (connection.publish) publish(connection, chunk.subarray(off, nl));
        off = nl + 1;
      }
    }
    if (off < chunk.length) {
      const rest = chunk.subarray(off);
      pending.push(rest);
      pendingLen = rest.length;
      needed = endpoint.framing === 'length' && rest.length >= 4 ? 4 + rest.readUInt32BE(0) : rest.length + 1;
    } else {
      needed = endpoint.framing === 'length' ? 4 : 1;
    }
  });
  socket.on('close', () => {
    connection.closed = true;
    for (const filter of connection.subscribe) removeInterest(filter, connection);
  });
  socket.on('error', () => {}); // ECONNRESET etc.: 'close' follows
}

async function main() {
  nc = await connect({
    servers: natsUrl, name: `node-bridge-${instanceId}`, noEcho: true,
    maxReconnectAttempts: -1, reconnectTimeWait: 250,
  });
  for (const endpoint of endpoints) {
    const server = net.createServer((socket) => onConnection(endpoint, socket));
    server.on('error', (err) => {
      console.error(`node-nats-bridge: ${endpoint.name}: ${err.message}`);
      process.exit(1);
    });
    server.listen(endpoint.port, host, () => console.log(`${endpoint.name} listening on ${host}:${endpoint.port}`));
  }
}

main().catch((err) => {
  console.error(`node-nats-bridge: ${err.message}`);
  process.exit(1);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
