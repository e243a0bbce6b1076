'use strict';
// Opens COUNT TCP connections to HOST:PORT, at most CONCURRENCY connecting at once, from LOCAL_ADDRESS (a loopback
// address of its own per run, so that the TIME_WAIT ports of the run before never run short), and holds them open
// until killed. Prints "connected COUNT in MS ms" once every connection is established. For
// bench/run-subscriptions.sh, which times the gateway's side of it. Exits 1 if a connection fails or closes.
//
// usage: node connect-many.js HOST PORT COUNT [CONCURRENCY=200] [LOCAL_ADDRESS]

const net = require('net');

const [host, portText, countText, concurrencyText, localAddress] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const concurrency = Number(concurrencyText || 200);
if (!host || !port || !Number.isInteger(count) || count < 1) {
  console.error('usage: node connect-many.js HOST PORT COUNT [CONCURRENCY] [LOCAL_ADDRESS]');
  process.exit(2);
}

const sockets = [];
const started = process.hrtime.bigint();
let opened = 0;
let connected = 0;

function openNext() {
  if (opened >= count) return;
  opened++;
  const socket = net.connect({ host, port, localAddress: localAddress || undefined });
  sockets.push(socket);
  socket.on('connect', () => {
    if (++connected === count) {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      console.log(`connected ${count} in ${ms.toFixed(0)} ms`);
    }
    openNext();
  });
  socket.on('error', (err) => {
    console.error(`connection ${sockets.indexOf(socket)} failed: ${err.message}`);
    process.exit(1);
  });
  socket.on('close', () => {
    console.error(`a connection closed after ${connected} of ${count} connected`);
    process.exit(1);
  });
}

for (let i = 0; i < concurrency; i++) openNext();
