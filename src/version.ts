/** The product and protocol versions, announced by HELLO. */
export const SERVER_NAME = 'bucketd';
export const VERSION = '0.1.0';
/** 2: LOGIN, LOGIN_PROOF, BUCKET_INFO and GRANT; HELLO says whether login is needed. */
export const PROTOCOL_VERSION = 2;
