// The tus-js-client peer of bench/throughput.py: upload one file, print one JSON line.
//
//   node tusjs_upload.mjs --endpoint URL --file PATH [--chunk-size BYTES]
//
// Prints {"url", "bytes", "seconds", "cpu_seconds"}: seconds and cpu_seconds cover the upload
// only (from start() to onSuccess), not node's own start-up; the benchmark measures the whole
// process's CPU and peak RSS from outside as well.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Upload } from 'tus-js-client';

const { values } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    file: { type: 'string' },
    'chunk-size': { type: 'string', default: String(8 * 1024 * 1024) },
  },
});
if (!values.endpoint || !values.file) {
  console.error('tusjs_upload.mjs: --endpoint and --file are required');
  process.exit(2);
}

const size = fs.statSync(values.file).size;
// A ReadStream with a path makes tus-js-client read each chunk from the file by range
// (its FileSource), so memory stays at one chunk, as with a path in the other clients.
const stream = fs.createReadStream(values.file);
const cpuStart = process.cpuUsage();
const started = process.hrtime.bigint();

const upload = new Upload(stream, {
  endpoint: values.endpoint,
  chunkSize: Number(values['chunk-size']),
  uploadSize: size,
  metadata: { filename: path.basename(values.file) },
  // A benchmark must fail loudly rather than retry its way to a slow number.
  retryDelays: null,
  storeFingerprintForResuming: false,
  onError(error) {
    console.error(`tus-js-client failed: ${error}`);
    process.exit(1);
  },
  onSuccess() {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuStart);
    process.stdout.write(
      `${JSON.stringify({
        url: upload.url,
        bytes: size,
        seconds,
        cpu_seconds: (cpu.user + cpu.system) / 1e6,
      })}\n`,
    );
    stream.destroy();
  },
});
upload.start();
