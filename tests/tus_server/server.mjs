// The real @tus/server + @tus/file-store that upqueue's tests upload to.
//
//   node server.mjs --port 0 --dir DIR [--expiration-ms N] [--max-size N] [--path /files/] [--host 127.0.0.1]
//
// Prints one JSON line {"port": N} on stdout once it listens, then nothing else on stdout
// (the test fixture reads exactly that line). Exits cleanly on SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    dir: { type: 'string' },
    path: { type: 'string', default: '/files/' },
    'expiration-ms': { type: 'string' },
    'max-size': { type: 'string' },
  },
});

if (!values.dir) {
  console.error('server.mjs: --dir is required');
  process.exit(2);
}

// @tus/server builds Location as `${path}/${id}`, so a trailing slash would give "//id".
const path = values.path.replace(/\/+$/, '') || '/';
const expiration = values['expiration-ms'] ? Number(values['expiration-ms']) : 0;
const maxSize = values['max-size'] ? Number(values['max-size']) : undefined;

const server = new Server({
  path,
  datastore: new FileStore({ directory: values.dir, expirationPeriodInMilliseconds: expiration }),
  ...(maxSize !== undefined ? { maxSize } : {}),
});

const http = server.listen(Number(values.port), values.host, () => {
  process.stdout.write(`${JSON.stringify({ port: http.address().port })}\n`);
});

const shutdown = () => {
  // Don't wait for keep-alive connections to drain: tests want the port back at once.
  http.closeAllConnections?.();
  http.close(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
