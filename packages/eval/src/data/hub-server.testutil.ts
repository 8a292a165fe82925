// Test helper: a local stand-in for the Hugging Face Hub on 127.0.0.1 (random port). It serves files at
// /datasets/{repo}/resolve/{revision}/{file} with the headers the Hub sends (X-Linked-Etag = sha256,
// X-Repo-Commit, X-Linked-Size), honours Range requests, and can cut a transfer midway once.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

export interface LocalHub {
  endpoint: string;
  requests: HubRequest[];
  /** close the socket after this many bytes of the body, the next time this URL path is fetched */
  cutOnce(urlPath: string, afterBytes: number): void;
  /** whether HEAD/GET carry X-Linked-Etag (default true) */
  declareSha: boolean;
  close(): Promise<void>;
}

export const COMMIT = 'c0ffee0000000000000000000000000000000000';

export async function startLocalHub(files: ReadonlyMap<string, Buffer>): Promise<LocalHub> {
  const cuts = new Map<string, number>();
  const requests: HubRequest[] = [];
  const hub: LocalHub = {
    endpoint: '',
    requests,
    declareSha: true,
    cutOnce: (p, n) => void cuts.set(p, n),
    close: () => new Promise((res) => server.close(() => res())),
  };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ method: req.method ?? '', path, ...(req.headers.range ? { range: req.headers.range } : {}), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const body = files.get(path);
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    const headers: Record<string, string> = { 'x-repo-commit': COMMIT, 'x-linked-size': String(body.length), 'accept-ranges': 'bytes' };
    if (hub.declareSha) headers['x-linked-etag'] = `"${createHash('sha256').update(body).digest('hex')}"`;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && req.method === 'GET') {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    const slice = body.subarray(start);
    res.writeHead(start ? 206 : 200, { ...headers, 'content-length': String(slice.length) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const cut = cuts.get(path);
    if (cut !== undefined) {
      cuts.delete(path);
      res.write(slice.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  hub.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return hub;
}
