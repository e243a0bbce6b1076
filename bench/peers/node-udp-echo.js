#!/usr/bin/env node
// UDP echo baseline: every datagram is sent back, unchanged, to the address and port it came from.
// Written as a competent Node developer would: one dgram socket, socket.send(msg, rinfo.port,
// rinfo.address) from the 'message' handler (no copy: `msg` is a fresh Buffer per datagram),
// and 4 MB kernel buffers (the loopback default of 208 KB overflows under bursts; the kernel
// caps the value at net.core.rmem_max / wmem_max).
//
// Usage: node bench/peers/node-udp-echo.js [PORT]   (or env PORT; default 9103)
'use strict';

const dgram = require('dgram');

const port = Number(process.argv[2] || process.env.PORT || 9103);
const host = process.env.HOST || '127.0.0.1';

const socket = dgram.createSocket({
  type: 'udp4',
  recvBufferSize: 4 * 1024 * 1024,
  sendBufferSize: 4 * 1024 * 1024,
});

socket.on('message', (msg, rinfo) => {
  socket.send(msg, rinfo.port, rinfo.address);
});
socket.on('error', (err) => {
  console.error(`udp socket error: ${err.message}`);
});
socket.bind(port, host, () => {
  console.log(`listening udp://${host}:${port}`);
});

function shutdown() {
  socket.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
