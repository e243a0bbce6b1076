// Bytes through the gateway's tunnels, as a Node service would send them.
// Usage:
//   node tunnel-client.js connect <proxy port> <destination host:port> <text to send> [api key]
//     The HTTP CONNECT pattern of Node's http module: http.request({ method: 'CONNECT', path: destination }), then the
//     'connect' event's res.socket carries the bytes. Prints "status <code>", then "recv <text>" for what comes back, and
//     "end" once the tunnel's far side has closed (the script half-closes after sending).
//   node tunnel-client.js bridge <ws url> <hex bytes to send> [api key]
//     A `ws` WebSocket to /tunnel/{name}: sends one binary message, prints "open", each message as "recv binary:<hex>"
//     or "recv text:<text>", and "close <code> <reason>". With hex "-" it sends nothing; with "text:<text>" it sends text.
const http = require('http');
const WebSocket = require('ws');
const [mode, ...args] = process.argv.slice(2);

if (mode === 'connect') {
    const [port, destination, text, key] = args;
    const req = http.request({
        hostname: '127.0.0.1',
        port: Number(port),
        method: 'CONNECT',
        path: destination,
        agent: false,
        headers: key ? { 'Proxy-Authorization': 'Bearer ' + key } : {},
    });
    req.on('connect', (res) => {
        console.log('status ' + res.statusCode);
        if (res.statusCode !== 200) { res.socket.destroy(); return; }
        const socket = res.socket;
        socket.on('data', (chunk) => console.log('recv ' + chunk.toString()));
        socket.on('end', () => console.log('end'));
        socket.on('close', () => console.log('closed'));
        socket.end(text);
    });
    // Any answer but 200 comes as a 'connect' too in current Node; older ones give it as 'response'.
    req.on('response', (res) => { console.log('status ' + res.statusCode); res.resume(); });
    req.on('error', (err) => { console.error('error ' + err.message); process.exitCode = 1; });
    req.end();
} else if (mode === 'bridge') {
    const [url, payload, key] = args;
    const socket = new WebSocket(url, { headers: key ? { 'X-Api-Key': key } : {} });
    socket.on('unexpected-response', (req, res) => { console.log('status ' + res.statusCode); res.resume(); socket.terminate(); });
    socket.on('open', () => {
        console.log('open');
        if (payload.startsWith('text:')) socket.send(payload.slice(5));
        else if (payload !== '-') socket.send(Buffer.from(payload, 'hex'));
    });
    socket.on('message', (data, isBinary) => console.log('recv ' + (isBinary ? 'binary:' + data.toString('hex') : 'text:' + data.toString())));
    socket.on('close', (code, reason) => console.log('close ' + code + ' ' + reason.toString()));
    socket.on('error', (err) => { console.error('error ' + err.message); });
} else {
    console.error('usage: node tunnel-client.js connect|bridge ...');
    process.exitCode = 2;
}
