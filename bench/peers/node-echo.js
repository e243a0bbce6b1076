'use strict';
// Node.js 4-byte big-endian length-framed echo server: the baseline the gateway
// has to beat. Written the way a competent Node developer would:
//   - no per-chunk Buffer.concat: a partial frame is kept as a list of chunks
//     and concatenated once, only when enough bytes for the whole frame exist;
//   - all complete frames found in one 'data' event go back in ONE write; since
//     they are contiguous in the chunk, that is a zero-copy subarray;
//   - noDelay, backpressure via pause()/'drain', errors do not crash the process.
//
// usage: node node-echo.js [PORT]   (or env PORT; default 9100; env HOST, default 127.0.0.1)

const net = require('net');

const port = Number(process.argv[2] || process.env.PORT || 9100);
const host = process.env.HOST || '127.0.0.1';
const MAX_FRAME = 16 * 1024 * 1024; // refuse absurd lengths instead of buffering forever

const server = net.createServer((socket) => {
  socket.setNoDelay(true);

  let pending = [];     // chunks holding an incomplete frame
  let pendingLen = 0;   // total bytes in `pending`
  let needed = 4;       // bytes required before parsing can make progress

  const onDrain = () => socket.resume();

  socket.on('data', (chunk) => {
    if (pendingLen > 0) {
      pending.push(chunk);
      pendingLen += chunk.length;
      if (pendingLen < needed) return; // still no complete frame: copy nothing
      chunk = Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
    }

    // Walk every complete frame in the chunk.
    let off = 0;
    while (chunk.length - off >= 4) {
      const len = chunk.readUInt32BE(off);
      if (len > MAX_FRAME) {
        socket.destroy();
        return;
      }
      if (chunk.length - off - 4 < len) break;
      off += 4 + len;
    }

    // Echo all complete frames at once: they are the contiguous prefix [0, off).
    if (off > 0) {
      const out = off === chunk.length ? chunk : chunk.subarray(0, off);
      if (!socket.write(out)) {
        socket.pause();
        socket.once('drain', onDrain);
      }
    }

    // Keep the incomplete tail (a view, not a copy) and remember how much it needs.
    if (off < chunk.length) {
      const rest = chunk.subarray(off);
      pending.push(rest);
      pendingLen = rest.length;
      needed = rest.length >= 4 ? 4 + rest.readUInt32BE(0) : 4;
    } else {
      needed = 4;
    }
  });

  socket.on('error', () => {}); // ECONNRESET etc.: the socket is closed anyway
});

server.on('error', (err) => {
  console.error(`node-echo: ${err.message}`);
  process.exit(1);
});

server.listen(port, host, () => {
  console.log(`listening on ${host}:${port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
