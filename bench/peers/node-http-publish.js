'use strict';
// Node.js HTTP publish server: the peer of the gateway's POST /api/topics/{topic} in
// bench/run-http-publish.sh. It does the same work a Node developer would write for that route:
//   - reads the whole body (refusing more than 1 MiB with 413, as the gateway's default limit);
//   - looks the topic up in a map of subscribers (a Set per topic; the benchmark subscribes none,
//     as the gateway has none on the topic) and answers {id, topic, subscribers} as JSON with its
//     Content-Length, so the answer leaves in one write;
//   - keep-alive (Node's default), no logging.
//
// usage: node node-http-publish.js [PORT]   (or env PORT; default 8180; env HOST, default 127.0.0.1)

const http = require('http');

const port = Number(process.argv[2] || process.env.PORT || 8180);
const host = process.env.HOST || '127.0.0.1';
const MAX_BODY = 1024 * 1024;
const PREFIX = '/api/topics/';

const subscribers = new Map(); // topic -> Set of subscribers
let nextId = 0;

function answer(res, status, body) {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(json),
  });
  res.end(json);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || !req.url.startsWith(PREFIX)) {
    answer(res, 404, { title: 'Not found' });
    return;
  }

  const topic = decodeURIComponent(req.url.slice(PREFIX.length).split('?')[0]);
  const chunks = [];
  let length = 0;
  let refused = false;
  req.on('data', (chunk) => {
    if (refused) return;
    length += chunk.length;
    if (length > MAX_BODY) {
      refused = true;
      answer(res, 413, { title: 'Message too large' });
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (refused) return;
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length);
    const matched = subscribers.get(topic);
    const count = matched ? matched.size : 0;
    // The message a subscriber would get; kept so the body is really taken, as the gateway takes it.
    const message = { id: ++nextId, topic, payload: body };
    answer(res, 200, { id: message.id, topic, subscribers: count });
  });
  req.on('error', () => {});
});

server.keepAliveTimeout = 60_000;
server.on('clientError', (err, socket) => socket.destroy());
server.listen(port, host, () => console.log(`node http publish listening on ${host}:${port}`));
