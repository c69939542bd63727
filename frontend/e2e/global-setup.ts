/**
 * Starts a real `whowhywhen serve` on a free port with a fresh data directory (so a fresh
 * database), after building the dashboard into the Python package. Tests read the address from
 * E2E_BASE_URL; the returned function stops the server and removes the data directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const frontend = resolve(import.meta.dirname, '..');
const repo = resolve(frontend, '..');

function freePort(): Promise<number> {
	return new Promise((ok, fail) => {
		const srv = createServer();
		srv.unref();
		srv.on('error', fail);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address() as { port: number };
			srv.close(() => ok(port));
		});
	});
}

async function waitFor(url: string, ms: number) {
	const until = Date.now() + ms;
	while (Date.now() < until) {
		try {
			const res = await fetch(url);
			if (res.ok) return;
		} catch {
			// not up yet
		}
		await new Promise((r) => setTimeout(r, 250));
	}
	throw new Error(`server did not answer ${url} within ${ms} ms`);
}

export default async function globalSetup() {
	const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
	if (!existsSync(chromium)) {
		throw new Error(
			`${chromium} not found: run \`apt-get install -y chromium\` (or set CHROMIUM_PATH)`
		);
	}
	if (!process.env.E2E_SKIP_BUILD) {
		const build = spawnSync('npm', ['run', 'build'], { cwd: frontend, stdio: 'inherit' });
		if (build.status !== 0) throw new Error('npm run build failed');
	}
	const dataDir = mkdtempSync(join(tmpdir(), 'whowhywhen-e2e-'));
	const port = await freePort();
	const bin = process.env.WHOWHYWHEN_BIN ?? join(repo, '.venv/bin/whowhywhen');
	mkdirSync(join(frontend, 'test-results'), { recursive: true });
	const log = openSync(join(frontend, 'test-results/server.log'), 'w');
	const server = spawn(bin, ['serve', '--port', String(port), '--collector-port', '0'], {
		cwd: dataDir,
		env: { ...process.env, WHOWHYWHEN_DATA_DIR: dataDir, PYTHONUNBUFFERED: '1' },
		stdio: ['ignore', log, log]
	});
	const base = `http://127.0.0.1:${port}`;
	await waitFor(`${base}/api/health`, 60_000);
	process.env.E2E_BASE_URL = base;
	process.env.E2E_DATA_DIR = dataDir;
	return async () => {
		server.kill('SIGTERM');
		await new Promise((r) => server.once('exit', r));
		rmSync(dataDir, { recursive: true, force: true });
	};
}
