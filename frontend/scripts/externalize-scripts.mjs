// The server sends `Content-Security-Policy: script-src 'self'`, which forbids inline scripts.
// SvelteKit writes its bootstrap (and our theme pre-paint) inline, so after the build we move
// every inline <script> of the HTML pages into a content-hashed file and reference it instead.
// Classic external scripts keep `document.currentScript`, which the bootstrap relies on.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const out = resolve(import.meta.dirname, '../../src/whowhywhen/static');
const dir = join(out, '_app/immutable/boot');
mkdirSync(dir, { recursive: true });

let moved = 0;
for (const file of readdirSync(out).filter((f) => f.endsWith('.html'))) {
	const path = join(out, file);
	const html = readFileSync(path, 'utf8').replace(/<script>([\s\S]*?)<\/script>/g, (_m, body) => {
		const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
		writeFileSync(join(dir, `${hash}.js`), body.trim() + '\n');
		moved++;
		return `<script src="/_app/immutable/boot/${hash}.js"></script>`;
	});
	if (/<script(?![^>]*\bsrc=)[^>]*>/.test(html)) throw new Error(`inline script left in ${file}`);
	writeFileSync(path, html);
}
console.log(`externalize-scripts: moved ${moved} inline script(s)`);
