// Layers kept by a tool (docs: STYLE.md, "The shape of the house"): each
// folder under src/ may import only the layers below it, and src/protocol
// touches no I/O. Only these rules run, on TypeScript parsed without type
// information, so the lint takes about a second. test/lint/layers.test.ts
// proves that every rule here reports what it should and nothing else.
import tseslint from 'typescript-eslint';

/** The folders under src/ that are layers; every folder there must be one. */
export const LAYERS = ['protocol', 'net', 'storage', 'server', 'client', 'cli', 'util'];

/**
 * Which layers each one must not import. A relative import names the layer
 * folder right after its leading ./ and ../ segments, which is why no folder
 * inside a layer may share a layer's name.
 */
const FORBIDDEN = {
  protocol: ['net', 'storage', 'server', 'client', 'cli'],
  net: ['storage', 'server', 'client', 'cli'],
  storage: ['protocol', 'net', 'server', 'client', 'cli'],
  server: ['client', 'cli'],
  client: ['storage', 'server', 'cli'],
  // The CLI speaks the protocol only through the client library (STYLE.md).
  cli: ['protocol', 'net', 'storage', 'server'],
  util: LAYERS,
};

// Front ends that start the server may reach it and its storage.
const CLI_SERVER_ENTRIES = ['src/cli/bucketd.ts', 'src/cli/server-*.ts'];

// Modules that do I/O or schedule work: the codec uses none of them.
const IO_MODULES = [
  'async_hooks', 'child_process', 'cluster', 'dgram', 'diagnostics_channel', 'dns', 'fs', 'http', 'http2',
  'https', 'inspector', 'net', 'os', 'perf_hooks', 'process', 'readline', 'repl', 'timers', 'tls', 'tty',
  'vm', 'worker_threads',
];
const IO_GLOBALS = ['setTimeout', 'setInterval', 'setImmediate', 'process', 'fetch'];
// util/ helpers that do I/O; the codec may use only the pure ones.
const IMPURE_UTIL = ['fd', 'streams'];

const layerImport = (layer) => `^(?:\\.{1,2}/)+${layer}/`;

/** One forbidden import: its pattern (a regular expression) and why. */
function forbidLayers(from, layers) {
  return layers.map((layer) => ({
    regex: layerImport(layer),
    message: `src/${from} must not import src/${layer}: layers point one way (STYLE.md, "The shape of the house").`,
  }));
}

// Code in src/ never imports the package by its own name, which would load dist/.
const SELF_IMPORT = {
  regex: '^bucketd(?:/|$)',
  message: 'src/ imports its own modules by relative path, never through the bucketd package (that is dist/).',
};

const PROTOCOL_EXTRA = [
  {
    regex: `^(?:node:)?(?:${IO_MODULES.join('|')})(?:/.*)?$`,
    message: 'src/protocol is the pure codec: no file, network, process or timer modules.',
  },
  {
    regex: `^(?:\\.{1,2}/)+util/(?:${IMPURE_UTIL.join('|')})\\.js$`,
    message: 'src/protocol may use only the pure helpers in src/util.',
  },
];

/**
 * The rules for one set of files. no-restricted-imports sees import and
 * export declarations; no-restricted-syntax covers import(), type imports
 * written as import('...') and import = require('...') with the same patterns.
 * (In a flat config a later block replaces a rule's options, so each block
 * carries all of its patterns.)
 */
function restrict(patterns) {
  const all = [SELF_IMPORT, ...patterns];
  return {
    'no-restricted-imports': ['error', { patterns: all }],
    'no-restricted-syntax': [
      'error',
      ...all.map(({ regex, message }) => ({
        // esquery regular expressions cannot contain a slash.
        selector: `:matches(ImportExpression > Literal.source, TSImportType > Literal.source, TSExternalModuleReference > Literal.expression)[value=/${regex.replaceAll('/', '\\x2F')}/]`,
        message,
      })),
    ],
  };
}

export default [
  { ignores: ['dist/', '.build/', 'node_modules/'] },
  {
    files: ['src/**/*.ts'],
    languageOptions: { parser: tseslint.parser, sourceType: 'module', ecmaVersion: 'latest' },
    // An exception to the layers belongs here, in view, not in a comment.
    linterOptions: { noInlineConfig: true, reportUnusedDisableDirectives: 'error' },
    rules: restrict([]),
  },
  ...Object.entries(FORBIDDEN).map(([layer, forbidden]) => ({
    files: [`src/${layer}/**/*.ts`],
    ignores: layer === 'cli' ? CLI_SERVER_ENTRIES : [],
    rules: restrict([...forbidLayers(layer, forbidden), ...(layer === 'protocol' ? PROTOCOL_EXTRA : [])]),
  })),
  {
    files: ['src/protocol/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...IO_GLOBALS.map((name) => ({ name, message: 'src/protocol is the pure codec: no timers, no process, no I/O.' })),
      ],
    },
  },
  // Leaves that every layer may import import no layer themselves.
  {
    files: ['src/errors.ts', 'src/version.ts'],
    rules: restrict(forbidLayers('errors.ts and src/version.ts', LAYERS)),
  },
  // The bucketd/client entry point holds the client library only.
  {
    files: ['src/client-entry.ts'],
    rules: restrict(forbidLayers('client-entry.ts', FORBIDDEN.client)),
  },
];
