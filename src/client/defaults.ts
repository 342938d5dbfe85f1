/** Where the client looks for a server by default; apart from index.ts, so that importing them loads nothing else. */
export { DEFAULT_HOST, DEFAULT_PORT } from '../protocol/defaults.js';
