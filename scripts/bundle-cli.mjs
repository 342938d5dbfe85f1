// After tsc: the bucket program (dist/cli/bucket.js) becomes one file
// holding our modules it can reach, so that a command starts without
// Node's module loader finding, reading and linking some sixty files one
// by one. Packages from node_modules stay outside, loaded as installed;
// the library's modules stay in dist as tsc wrote them. Parts loaded
// lazily (the shell, the verbs, a prompt) are still evaluated only when
// used. Its source map leads back to src/. Run by `npm run build`.
import { build } from 'esbuild';
import { renameSync, rmSync } from 'node:fs';

// Written beside, under the same name, then moved over tsc's output.
const staging = 'dist/.bundle'; // as deep as dist/cli, so the map's paths hold there too
await build({
  entryPoints: ['dist/cli/bucket.js'],
  outfile: `${staging}/bucket.js`,
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});
for (const file of ['bucket.js', 'bucket.js.map']) renameSync(`${staging}/${file}`, `dist/cli/${file}`);
rmSync(staging, { recursive: true });
