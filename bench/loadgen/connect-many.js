'use strict';
// Opens COUNT connections to TARGET, at most CONCURRENCY connecting at once, and holds them open, idle, until killed.
// Prints "connected COUNT in MS ms" once every connection is established. Exits 1 if a connection fails or closes.
//
// TARGET is host:port (plain TCP) or a ws:// URL (a WebSocket each; "{i}" in the URL becomes the connection's index).
// LOCAL_ADDRESSES is a comma-separated list of loopback addresses the connections take in turn (each address has its
// own ephemeral ports, so many addresses hold more connections than one, and a run's own addresses keep the run
// before's TIME_WAIT ports out of its way).
//
// A line "check" on stdin has every connection answer once: a TCP connection sends a 4-byte big-endian length-framed
// message and a WebSocket a text message, each carrying the connection's index, and each must come back unchanged
// (an echo endpoint, or a WebSocket subscribed to the topic it publishes to). Prints "answered N of COUNT in MS ms",
// and names the first connections that did not answer within 60 s.
//
// For bench/run-subscriptions.sh (connect cost) and bench/run-idle.sh (memory per idle connection, and every idle
// connection still answering at the end).
//
// usage: node connect-many.js TARGET COUNT [CONCURRENCY=200] [LOCAL_ADDRESSES]

const net = require('net');
const readline = require('readline');

const [target, countText, concurrencyText, localAddressList] = process.argv.slice(2);
const count = Number(countText);
const concurrency = Number(concurrencyText || 200);
const localAddresses = (localAddressList || '').split(',').filter(Boolean);
const isWebSocket = /^wss?:\/\//.test(target || '');
if (!target || (!isWebSocket && !/^[^:]+:\d+$/.test(target)) || !Number.isInteger(count) || count < 1) {
  console.error('usage: node connect-many.js HOST:PORT|ws://HOST:PORT/PATH COUNT [CONCURRENCY] [LOCAL_ADDRESSES]');
  process.exit(2);
}
const WebSocket = isWebSocket ? require('ws') : null;

const connections = [];
const started = process.hrtime.bigint();
let opened = 0;
let connected = 0;
let checking = false;

const elapsedMs = (since) => (Number(process.hrtime.bigint() - since) / 1e6).toFixed(0);

function fail(message) {
  console.error(message);
  process.exit(1);
}

function onConnected() {
  if (++connected === count) console.log(`connected ${count} in ${elapsedMs(started)} ms`);
  openNext();
}

function openNext() {
  if (opened >= count) return;
  const index = opened++;
  const localAddress = localAddresses.length ? localAddresses[index % localAddresses.length] : undefined;
  const connection = { index, answered: false, received: Buffer.alloc(0), socket: null };
  connections.push(connection);
  if (isWebSocket) {
    const ws = new WebSocket(target.replaceAll('{i}', String(index)), { localAddress, perMessageDeflate: false });
    connection.socket = ws;
    ws.on('open', onConnected);
    ws.on('message', (data) => onAnswer(connection, Buffer.from(data)));
    ws.on('error', (err) => fail(`connection ${index} failed: ${err.message}`));
    ws.on('close', (code) => fail(`connection ${index} closed (${code}) after ${connected} of ${count} connected`));
  } else {
    const [host, port] = target.split(':');
    const socket = net.connect({ host, port: Number(port), localAddress });
    connection.socket = socket;
    socket.on('connect', onConnected);
    socket.on('data', (chunk) => {
      connection.received = Buffer.concat([connection.received, chunk]);
      if (connection.received.length < 4) return;
      const length = connection.received.readUInt32BE(0);
      if (connection.received.length >= 4 + length) onAnswer(connection, connection.received.subarray(4, 4 + length));
    });
    socket.on('error', (err) => fail(`connection ${index} failed: ${err.message}`));
    socket.on('close', () => fail(`connection ${index} closed after ${connected} of ${count} connected`));
  }
}

let answered = 0;
let checkStarted = 0n;
function onAnswer(connection, payload) {
  if (!checking) return fail(`connection ${connection.index} received data while idle`);
  if (connection.answered) return;
  const expected = `idle ${connection.index}`;
  if (payload.toString() !== expected) return fail(`connection ${connection.index} answered "${payload}", not "${expected}"`);
  connection.answered = true;
  if (++answered === count) {
    console.log(`answered ${answered} of ${count} in ${elapsedMs(checkStarted)} ms`);
  }
}

function check() {
  if (checking) return;
  if (connected < count) return fail(`check asked for with ${connected} of ${count} connected`);
  checking = true;
  checkStarted = process.hrtime.bigint();
  for (const connection of connections) {
    const payload = Buffer.from(`idle ${connection.index}`);
    if (isWebSocket) {
      connection.socket.send(payload.toString());
    } else {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(payload.length);
      connection.socket.write(Buffer.concat([header, payload]));
    }
  }
  setTimeout(() => {
    if (answered === count) return;
    const missing = connections.filter((c) => !c.answered).slice(0, 10).map((c) => c.index);
    console.log(`answered ${answered} of ${count} in ${elapsedMs(checkStarted)} ms; first without an answer: ${missing.join(', ')}`);
  }, 60_000).unref();
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'check') check();
});
for (let i = 0; i < concurrency; i++) openNext();
