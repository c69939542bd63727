// Gzipped JavaScript of a first load, per route: the boot scripts, the client entry, the root
// layout (node 0) and the route's layout/page nodes with all their static imports (dynamic
// imports, such as the world map, load later and are reported apart). Fails over the budget.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET = 300 * 1024;
const root = resolve(import.meta.dirname, '..');
const out = resolve(root, '../src/whowhywhen/static');
const manifest = JSON.parse(
	readFileSync(resolve(root, '.svelte-kit/output/client/.vite/manifest.json'), 'utf8')
);
const app = readFileSync(resolve(root, '.svelte-kit/generated/client-optimized/app.js'), 'utf8');
const dictionary = Object.fromEntries(
	[...app.matchAll(/"([^"]+)": \[(\d+)(?:,\[([\d,]*)\])?/g)].map((m) => [
		m[1],
		[Number(m[2]), ...(m[3] ? m[3].split(',').map(Number) : [])]
	])
);

const gz = (file) => gzipSync(readFileSync(resolve(out, file)), { level: 9 }).length;
const key = (suffix) => Object.keys(manifest).find((k) => k.endsWith(suffix));

function closure(keys) {
	const seen = new Set();
	const walk = (k) => {
		if (!k || seen.has(k)) return;
		seen.add(k);
		for (const dep of manifest[k].imports ?? []) walk(dep);
	};
	keys.forEach(walk);
	return seen;
}

const boot = [
	...readFileSync(resolve(out, 'index.html'), 'utf8').matchAll(/src="\/([^"]+\.js)"/g)
].map((m) => m[1]);
const bootBytes = boot.reduce((n, f) => n + gz(f), 0);
const base = [
	key('client/entry.js'),
	key('client-optimized/app.js'),
	key('client-optimized/nodes/0.js')
];

let worst = 0;
const rows = [];
for (const [route, nodes] of Object.entries(dictionary)) {
	const files = new Set(
		[...closure([...base, ...nodes.map((n) => key(`client-optimized/nodes/${n}.js`))])].map(
			(k) => manifest[k].file
		)
	);
	const bytes = bootBytes + [...files].reduce((n, f) => n + gz(f), 0);
	worst = Math.max(worst, bytes);
	rows.push([route, bytes]);
}
const lazy = Object.values(manifest)
	.filter((c) => c.isDynamicEntry)
	.map((c) => [c.file, gz(c.file)]);

for (const [route, bytes] of rows)
	console.log(`${(bytes / 1024).toFixed(1).padStart(7)} KB  ${route}`);
for (const [file, bytes] of lazy)
	console.log(`${(bytes / 1024).toFixed(1).padStart(7)} KB  (lazy) ${file}`);
console.log(
	`first load, worst route: ${(worst / 1024).toFixed(1)} KB gzipped JS (budget ${BUDGET / 1024} KB)`
);
if (worst > BUDGET) process.exit(1);
