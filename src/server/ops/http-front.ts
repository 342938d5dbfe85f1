/**
 * The HTTP side's sockets, on a worker thread of their own (see http.ts):
 * this thread takes connections, parses requests and writes responses;
 * what a response says is asked of the main thread, one message each way.
 *
 * Why a thread: HTTP connections run through the same Node stream and
 * socket code as the protocol's, and in one thread they share its compiled
 * code. Serving a scrape a second made that code serve two kinds of
 * socket, and the protocol's small-file rate fell by 5 to 9 percent, for
 * requests that themselves cost a few milliseconds.
 */
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

/** What the worker is started with. */
export interface FrontJob {
  host: string;
  port: number;
}

/** Main thread to worker. */
export type FrontRequest = { kind: 'reply'; id: number; status: number; contentType: string; body: string } | { kind: 'close' };

/** Worker to main thread. */
export type FrontMessage =
  | { kind: 'listening'; address: string; port: number }
  | { kind: 'listen-failed'; message: string; code: string | undefined }
  | { kind: 'request'; id: number; path: string }
  | { kind: 'error'; error: string };

const port = parentPort!;
const job = workerData as FrontJob;
const waiting = new Map<number, http.ServerResponse>();
let nextId = 0;

const post = (message: FrontMessage): void => port.postMessage(message);

const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (request, response) => {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    send(response, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n');
    return;
  }
  let path: string;
  try {
    path = new URL(request.url ?? '/', 'http://localhost').pathname;
  } catch {
    send(response, 400, 'text/plain; charset=utf-8', 'bad request target\n');
    return;
  }
  const id = nextId++;
  waiting.set(id, response);
  // A client that goes before its answer: the answer is dropped when it comes.
  response.on('close', () => waiting.delete(id));
  post({ kind: 'request', id, path });
});
server.keepAliveTimeout = 5_000;

// Asked to close: once the server has closed, nothing is left to keep this thread, and it ends.
let closing = false;
const end = (): void => {
  server.close(() => port.close());
  server.closeAllConnections();
};

port.on('message', (message: FrontRequest) => {
  if (message.kind === 'close') {
    closing = true;
    // Still starting: the listen's outcome ends it.
    if (server.listening) end();
    return;
  }
  const response = waiting.get(message.id);
  waiting.delete(message.id);
  if (response === undefined || response.destroyed) return;
  send(response, message.status, message.contentType, message.body);
});

const listenFailed = (error: NodeJS.ErrnoException): void => {
  post({ kind: 'listen-failed', message: error.message, code: error.code });
  if (closing) port.close();
};
server.once('error', listenFailed);
server.listen(job.port, job.host, () => {
  server.off('error', listenFailed);
  if (closing) {
    end();
    return;
  }
  server.on('error', (error) => post({ kind: 'error', error: error.message }));
  const bound = server.address() as { address: string; port: number };
  post({ kind: 'listening', address: bound.address, port: bound.port });
});

function send(response: http.ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}
