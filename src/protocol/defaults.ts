/** Where a client looks for a server, and where a server listens, by default. */
export const DEFAULT_PORT = 9077;
export const DEFAULT_HOST = '127.0.0.1';
