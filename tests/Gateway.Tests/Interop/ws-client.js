// A WebSocket client written with the `ws` package, as a Node service would use it against the gateway.
// Usage: node ws-client.js <url> <messages to wait for> [text to send once open]
// Prints "open", then each received message as "recv <text>", and exits after the expected count.
// For wss, WS_CA names the CA file to trust, WS_CERT and WS_KEY a client certificate; WS_API_KEY is sent as X-Api-Key.
const fs = require('fs');
const WebSocket = require('ws');
const [url, expected, toSend] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const file = (name) => process.env[name] ? fs.readFileSync(process.env[name]) : undefined;
const socket = new WebSocket(url, {
    ca: file('WS_CA'), cert: file('WS_CERT'), key: file('WS_KEY'),
    headers: process.env.WS_API_KEY ? { 'X-Api-Key': process.env.WS_API_KEY } : {},
});
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
