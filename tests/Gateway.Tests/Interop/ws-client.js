// A WebSocket client written with the `ws` package, as a Node service would use it against the gateway.
// Usage: node ws-client.js <url> <messages to wait for> [text to send once open]
// Prints "open", then each received message as "recv <text>", and exits after the expected count.
const WebSocket = require('ws');
const [url, expected, toSend] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const socket = new WebSocket(url);
let received = 0;
socket.on('open', () => {
    console.log('open');
    if (toSend) socket.send(toSend);
    if (expected === 0) socket.close(1000, 'done');
});
socket.on('message', (data, isBinary) => {
    console.log('recv ' + (isBinary ? 'binary:' + data.toString('hex') : data.toString()));
    if (++received === expected) socket.close(1000, 'done');
});
socket.on('close', (code, reason) => console.log('close ' + code + ' ' + reason.toString()));
socket.on('error', (err) => { console.error('error ' + err.message); process.exitCode = 1; });
