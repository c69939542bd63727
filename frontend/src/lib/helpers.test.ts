import { describe, expect, it } from 'vitest';
import { errorMessage } from './api/client';
import { parseSse } from './live';
import { shortcutFor } from './shortcuts';
import { shellQuote, snippet } from './snippets';

describe('snippets', () => {
	it('fills in the key and URL for every framework', () => {
		for (const fw of ['fastapi', 'flask', 'django', 'express', 'curl'] as const) {
			const s = snippet(fw, 'wwk_secret', 'http://host:8000/');
			expect(s).toContain('wwk_secret');
			expect(s).toContain('http://host:8000');
			expect(s).not.toContain('http://host:8000//');
		}
		expect(snippet('curl', 'k', 'http://h')).toContain("'http://h/api/log'");
	});
	it('quotes shell arguments', () => {
		expect(shellQuote("it's")).toBe(`'it'\\''s'`);
	});
});

describe('shortcuts', () => {
	it('maps Plausible-style letters and ignores typing in fields', () => {
		expect(shortcutFor({ key: 'w' })).toEqual({ kind: 'preset', preset: '7d' });
		expect(shortcutFor({ key: 'ArrowLeft' })).toEqual({ kind: 'shift', direction: -1 });
		expect(shortcutFor({ key: 'Escape' })).toEqual({ kind: 'clear' });
		expect(shortcutFor({ key: 'w', ctrlKey: true })).toBeNull();
		expect(
			shortcutFor({ key: 'w', target: { tagName: 'INPUT' } as unknown as EventTarget })
		).toBeNull();
		expect(shortcutFor({ key: 'q' })).toBeNull();
	});
});

describe('errorMessage', () => {
	it('reads our envelope, FastAPI validation lists and falls back to the status', () => {
		expect(errorMessage({ error: 'Conflict', detail: 'email already registered' }, 409)).toBe(
			'email already registered'
		);
		expect(errorMessage({ detail: [{ loc: ['body', 'password'], msg: 'too short' }] }, 422)).toBe(
			'password: too short'
		);
		expect(errorMessage(null, 502)).toBe('Request failed (502)');
	});
});

describe('parseSse', () => {
	it('parses event and JSON data, ignoring comments', () => {
		expect(parseSse(': ping\nevent: requests\ndata: [{"id":1}]')).toEqual({
			event: 'requests',
			data: [{ id: 1 }]
		});
		expect(parseSse(': ping')).toBeNull();
	});
});
