/**
 * `npm run playground`: builds the static site (build.ts) and serves
 * `playground/dist/` on localhost, printing the URL. Also used by the
 * end-to-end test, which starts it on a free port.
 */
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPlayground } from './build.js';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** A running server. */
export interface PlaygroundServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Serves the files of `dir` (GET/HEAD only, no listing, no path escape). */
export function serveStatic(dir: string, port = 0, host = '127.0.0.1'): Promise<PlaygroundServer> {
  const rootDir = resolve(dir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(rootDir, path.endsWith('/') ? `${path}index.html` : path));
    if (!file.startsWith(rootDir + sep) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(403).end();
      return;
    }
    stat(file)
      .then((s) => (s.isFile() ? readFile(file) : Promise.reject(new Error('not a file'))))
      .then((body) => {
        res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      })
      .catch(() => res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'));
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const addr = server.address();
      const p = typeof addr === 'object' && addr ? addr.port : port;
      ok({ url: `http://${host}:${p}/`, server, close: () => new Promise((c) => server.close(() => c())) });
    });
  });
}

/** Builds the site and serves it; resolves once listening. */
export async function startPlayground(port = 0): Promise<PlaygroundServer> {
  const { outDir } = await buildPlayground();
  return serveStatic(outDir, port);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--build-only')) {
    const r = await buildPlayground({ minify: true });
    console.log(`playground built in ${r.outDir} (${r.scenarios.length} scenarios); publish that folder as static files`);
  } else {
    const port = Number(process.env['PORT'] ?? 8080);
    const s = await startPlayground(port);
    console.log(`wasm-viommu playground: ${s.url}  (Ctrl-C to stop)`);
  }
}
