import { getAccessToken, refreshSession } from './api/client';

/**
 * Subscribes to the project's SSE live tail with fetch (so the bearer token rides in a header,
 * never in the URL). Reconnects with backoff; returns a stop function.
 */
export function subscribeLive(
	url: string,
	onEvent: (data: unknown, event: string) => void,
	onState?: (s: 'connecting' | 'open' | 'closed') => void
): () => void {
	let stopped = false;
	let ctrl: AbortController | null = null;
	let attempt = 0;

	async function run() {
		while (!stopped) {
			ctrl = new AbortController();
			onState?.('connecting');
			try {
				let res = await fetch(url, {
					headers: { Accept: 'text/event-stream', Authorization: `Bearer ${getAccessToken()}` },
					signal: ctrl.signal
				});
				if (res.status === 401 && (await refreshSession())) {
					res = await fetch(url, {
						headers: { Accept: 'text/event-stream', Authorization: `Bearer ${getAccessToken()}` },
						signal: ctrl.signal
					});
				}
				if (!res.ok || !res.body) throw new Error(`live: ${res.status}`);
				onState?.('open');
				attempt = 0;
				const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
				let buf = '';
				for (;;) {
					const { value, done } = await reader.read();
					if (done) break;
					buf += value;
					let idx;
					while ((idx = buf.search(/\r?\n\r?\n/)) >= 0) {
						const block = buf.slice(0, idx);
						buf = buf.slice(idx).replace(/^\r?\n\r?\n/, '');
						const parsed = parseSse(block);
						if (parsed) onEvent(parsed.data, parsed.event);
					}
				}
			} catch {
				if (stopped) break;
			}
			onState?.('closed');
			if (stopped) break;
			attempt++;
			await new Promise((r) => setTimeout(r, Math.min(15000, 500 * 2 ** attempt)));
		}
	}
	run();
	return () => {
		stopped = true;
		ctrl?.abort();
	};
}

export function parseSse(block: string): { event: string; data: unknown } | null {
	let event = 'message';
	const data: string[] = [];
	for (const line of block.split(/\r?\n/)) {
		if (!line || line.startsWith(':')) continue;
		const i = line.indexOf(':');
		const field = i < 0 ? line : line.slice(0, i);
		const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
		if (field === 'event') event = value;
		else if (field === 'data') data.push(value);
	}
	if (!data.length) return null;
	const text = data.join('\n');
	try {
		return { event, data: JSON.parse(text) };
	} catch {
		return { event, data: text };
	}
}
