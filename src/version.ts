/** The product and protocol versions, announced by HELLO. */
export const SERVER_NAME = 'bucketd';
export const VERSION = '0.1.0';
/** 2: LOGIN, LOGIN_PROOF, BUCKET_INFO and GRANT; HELLO says whether login is needed. 3: file names in folders; LIST_FILE takes a prefix and a delimiter. 4: resumable uploads and ranged downloads. 5: an upload may be sent at once, its SHA-256 on its request line. */
export const PROTOCOL_VERSION = 5;
