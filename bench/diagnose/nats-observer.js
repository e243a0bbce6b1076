// Watches the messages of bench/run-backplane-tcp.sh's publishers on NATS and prints, every 250 ms, the most each took
// to get there: from the load generator's send (the frame's own timestamp, CLOCK_MONOTONIC, as process.hrtime) and
// from the instance's read of it (the Gw-Timestamp header). Run it on the load generator's core while the script runs:
//   taskset -c 1 node bench/diagnose/nats-observer.js [nats://127.0.0.1:4322] [gw.xfer.data]
// A diagnosis, not a measurement: a third subscriber costs the nats-server some CPU.
'use strict';
const path = require('path');
const { connect } = require(path.join(__dirname, '..', 'node_modules', 'nats'));

const [url = 'nats://127.0.0.1:4322', subject = 'gw.xfer.data'] = process.argv.slice(2);

(async () => {
  const nc = await connect({ servers: url });
  const started = Date.now();
  let count = 0, fromRead = 0, fromSend = 0;
  setInterval(() => {
    console.log(`t_ms=${Date.now() - started} msgs=${count} read_to_nats_ms=${fromRead.toFixed(1)} send_to_nats_ms=${fromSend.toFixed(1)}`);
    count = 0; fromRead = 0; fromSend = 0;
  }, 250);
  for await (const m of nc.subscribe(subject)) {
    const read = m.headers && m.headers.get('Gw-Timestamp');
    if (!read || m.data.length < 16) continue;
    count++;
    // Gw-Timestamp has ticks (7 decimals); Date.parse takes milliseconds.
    fromRead = Math.max(fromRead, Date.now() - Date.parse(read.replace(/(\.\d{3})\d*/, '$1')));
    // The body: publisher index (4 bytes), 4 more, then the send time in ns (8 bytes, little-endian).
    const sent = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length).readBigUInt64LE(8);
    fromSend = Math.max(fromSend, Number(process.hrtime.bigint() - sent) / 1e6);
  }
})();
