'use strict';
// Node.js peer of a gateway route to an HTTP upstream (bench/run-routes.sh): devices connect over TCP and send
// line frames; every frame is POSTed as its own request body to the sink URL, the way the gateway's route with
// `To.Kind=Http` forwards what its endpoint publishes:
//   - frames are lines (the body, then "\n" or "\r\n"; the delimiter is not forwarded), at most 65,536 bytes, as
//     the gateway's Line framing; a longer line closes that connection;
//   - one `http.Agent({ keepAlive: true, maxSockets })`: at most MAX_SOCKETS requests on their way, the others wait
//     in the agent's queue; at most QUEUE of them may wait (the gateway's route queue, Capacity 1,024, DropNewest):
//     a frame arriving when the queue is full is dropped and counted, and the device is not slowed;
//   - Content-Type application/octet-stream and the body's Content-Length, so each request leaves in one write;
//     the answer's body is drained so the socket goes back to the agent;
//   - a request that fails (connection refused or reset, status >= 300) is counted, never retried.
// Written as a competent Node developer would: a 'data' event's complete lines are forwarded as views of the chunk
// (no copy); a partial line is kept as a list of chunks and concatenated once, when its LF arrives; errors do not
// crash the process. On SIGTERM or SIGINT it prints its counts to stderr and exits.
//
// usage: node routes-peer.js PORT SINK_URL [MAX_SOCKETS] [QUEUE]
//   e.g. node routes-peer.js 9300 http://127.0.0.1:9400/ingest 16 1024      env HOST (default 127.0.0.1)

const net = require('net');
const http = require('http');

const port = Number(process.argv[2]);
const sink = process.argv[3] ? new URL(process.argv[3]) : null;
const maxSockets = Number(process.argv[4] || 16);
const queueCapacity = Number(process.argv[5] || 1024);
const host = process.env.HOST || '127.0.0.1';
const MAX_FRAME = 65536;
const LF = 10;
const CR = 13;
if (!port || !sink || sink.protocol !== 'http:' || !(maxSockets > 0) || !(queueCapacity >= 0)) {
  console.error('usage: node routes-peer.js PORT SINK_URL [MAX_SOCKETS] [QUEUE]');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets, noDelay: true });
const target = { hostname: sink.hostname, port: sink.port || 80, path: sink.pathname + sink.search };

let pending = 0;   // requests on their way or waiting in the agent's queue
let forwarded = 0;
let dropped = 0;
let failed = 0;

function onResponse(res) {
  if (res.statusCode < 300) forwarded++;
  else failed++;
  res.resume();
}
function onError() {
  failed++;
}
function onClose() {
  pending--;
}

function forward(body) {
  if (pending >= maxSockets + queueCapacity) {
    dropped++;
    return;
  }
  pending++;
  const req = http.request({
    agent,
    hostname: target.hostname,
    port: target.port,
    path: target.path,
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
  }, onResponse);
  req.on('error', onError);
  req.on('close', onClose);
  req.end(body);
}

// A line without its "\n" and an optional "\r" before it.
function frame(buf, start, lf) {
  const end = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
  return buf.subarray(start, end);
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let partial = [];    // chunks holding a line without its LF yet
  let partialLen = 0;

  socket.on('data', (chunk) => {
    let off = 0;
    let lf = chunk.indexOf(LF);
    if (partialLen > 0) {
      if (lf < 0) {
        partialLen += chunk.length;
        if (partialLen > MAX_FRAME) socket.destroy();
        else partial.push(chunk);
        return;
      }
      partial.push(chunk.subarray(0, lf + 1));
      const line = Buffer.concat(partial, partialLen + lf + 1);
      partial = [];
      partialLen = 0;
      if (line.length - 1 > MAX_FRAME) {
        socket.destroy();
        return;
      }
      forward(frame(line, 0, line.length - 1));
      off = lf + 1;
      lf = chunk.indexOf(LF, off);
    }
    while (lf >= 0) {
      if (lf - off > MAX_FRAME) {
        socket.destroy();
        return;
      }
      forward(frame(chunk, off, lf));
      off = lf + 1;
      lf = chunk.indexOf(LF, off);
    }
    if (off < chunk.length) {
      if (chunk.length - off > MAX_FRAME) {
        socket.destroy();
        return;
      }
      partial.push(chunk.subarray(off));
      partialLen = chunk.length - off;
    }
  });

  socket.on('error', () => {}); // ECONNRESET etc.: the socket is closed anyway
});

server.on('error', (err) => {
  console.error(`routes-peer: ${err.message}`);
  process.exit(1);
});

server.listen(port, host, () => {
  console.log(`routes peer listening on ${host}:${port}, forwarding to ${sink.href} (maxSockets ${maxSockets}, queue ${queueCapacity})`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`routes-peer: forwarded ${forwarded}, dropped ${dropped}, failed ${failed}, pending ${pending}`);
    process.exit(0);
  });
}
