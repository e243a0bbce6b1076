'use strict';
// Holds COUNT wildcard subscriptions open on the gateway for bench/run-subscriptions.sh: one WebSocket in envelope
// mode (subprotocol gateway.v1.json) subscribes to COUNT filters that match none of the benchmark's topics, half
// named under a level of their own ("bench/<i>/+") and half under a leading '+' ("+/bench<i>/#"), so both kinds of
// branch of the gateway's wildcard index are populated. Prints "subscribed COUNT" once every subscribe is acknowledged,
// then keeps the socket open until it is killed. Exits 1 on an error answer or a closed socket.
//
// usage: node ws-subscribe.js URL COUNT      e.g. node ws-subscribe.js ws://127.0.0.1:8080/ws 40000

const WebSocket = require('ws');

const [url, countText] = process.argv.slice(2);
const count = Number(countText);
if (!url || !Number.isInteger(count) || count < 1) {
  console.error('usage: node ws-subscribe.js URL COUNT');
  process.exit(2);
}

const socket = new WebSocket(url, 'gateway.v1.json');
let acked = 0;
socket.on('open', () => {
  for (let i = 0; i < count; i++) {
    const filter = i % 2 === 0 ? `bench/${i}/+` : `+/bench${i}/#`;
    socket.send(JSON.stringify({ op: 'subscribe', filter, id: String(i) }));
  }
});
socket.on('message', (data) => {
  const answer = JSON.parse(data);
  if (answer.op !== 'ack') {
    console.error(`unexpected answer: ${data}`);
    process.exit(1);
  }
  if (++acked === count) console.log(`subscribed ${count}`);
});
socket.on('close', (code) => {
  console.error(`socket closed (${code}) after ${acked} of ${count} subscriptions`);
  process.exit(1);
});
socket.on('error', (err) => {
  console.error(`socket error: ${err.message}`);
  process.exit(1);
});
