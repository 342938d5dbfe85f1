/** The product and protocol versions, announced by HELLO. */
export const SERVER_NAME = 'bucketd';
export const VERSION = '0.1.0';
export const PROTOCOL_VERSION = 1;
