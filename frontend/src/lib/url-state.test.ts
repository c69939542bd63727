import { describe, expect, it } from 'vitest';
import {
	apiQuery,
	autoInterval,
	carryState,
	clearFilters,
	parseViewState,
	resolveRange,
	shiftRange,
	withFilter,
	withRange,
	writeViewState
} from './url-state';

const now = new Date('2026-01-10T12:00:00Z');

describe('parseViewState', () => {
	it('defaults to the last 24 hours with comparison and no filters', () => {
		expect(parseViewState(new URLSearchParams())).toEqual({
			range: { period: '24h', compare: true },
			filters: {}
		});
	});
	it('reads presets, compare, interval and every filter key', () => {
		const s = parseViewState(
			new URLSearchParams(
				'period=7d&compare=off&interval=hour&status=500&route=/users/{id}&bot=Googlebot&junk=1'
			)
		);
		expect(s.range).toEqual({ period: '7d', compare: false, interval: 'hour' });
		expect(s.filters).toEqual({ status: '500', route: '/users/{id}', bot: 'Googlebot' });
	});
	it('falls back when a custom range is incomplete or invalid', () => {
		expect(parseViewState(new URLSearchParams('period=custom&from=nope')).range.period).toBe('24h');
		expect(parseViewState(new URLSearchParams('period=bogus')).range.period).toBe('24h');
	});
	it('keeps a valid custom range as ISO strings', () => {
		const s = parseViewState(
			new URLSearchParams('period=custom&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z')
		);
		expect(s.range).toMatchObject({
			period: 'custom',
			from: '2026-01-01T00:00:00.000Z',
			to: '2026-01-02T00:00:00.000Z'
		});
	});
});

describe('writeViewState', () => {
	it('round-trips and omits defaults', () => {
		const params = new URLSearchParams('period=30d&method=GET&keep=me');
		const out = writeViewState(params, parseViewState(params));
		expect(out.toString()).toBe('keep=me&period=30d&method=GET');
		expect(
			writeViewState(new URLSearchParams(), parseViewState(new URLSearchParams())).toString()
		).toBe('');
	});
});

describe('filters and ranges', () => {
	it('adds, replaces and removes a filter', () => {
		let p = withFilter(new URLSearchParams('period=7d'), 'status', '404');
		expect(p.get('status')).toBe('404');
		p = withFilter(p, 'status', '500');
		expect(p.getAll('status')).toEqual(['500']);
		p = withFilter(p, 'status', null);
		expect(p.has('status')).toBe(false);
		expect(p.get('period')).toBe('7d');
	});
	it('clears all filters but keeps the range', () => {
		const p = clearFilters(new URLSearchParams('period=1h&ip=1.2.3.4&q=x'));
		expect(p.toString()).toBe('period=1h');
	});
	it('drops custom bounds when switching to a preset', () => {
		const p = withRange(
			new URLSearchParams('period=custom&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z'),
			{ period: '7d' }
		);
		expect(p.toString()).toBe('period=7d');
	});
	it('carries only view state between pages', () => {
		expect(carryState(new URLSearchParams('period=7d&status=500&tab=x'))).toBe(
			'?period=7d&status=500'
		);
		expect(carryState(new URLSearchParams())).toBe('');
	});
});

describe('resolveRange / shiftRange / apiQuery', () => {
	it('resolves presets relative to now', () => {
		const { start, end } = resolveRange({ period: '1h', compare: true }, now);
		expect(end).toEqual(now);
		expect(start.toISOString()).toBe('2026-01-10T11:00:00.000Z');
	});
	it('shifts back by the range length and never past now', () => {
		const back = shiftRange({ period: '24h', compare: true }, -1, now);
		expect(back).toMatchObject({
			period: 'custom',
			from: '2026-01-08T12:00:00.000Z',
			to: '2026-01-09T12:00:00.000Z'
		});
		const fwd = shiftRange(back, 1, now);
		expect(fwd.to).toBe(now.toISOString());
		expect(shiftRange(fwd, 1, now).to).toBe(now.toISOString());
	});
	it('builds API query parameters with filters', () => {
		const q = apiQuery(parseViewState(new URLSearchParams('period=7d&country=DE')), now);
		expect(q).toEqual({
			start: '2026-01-03T12:00:00.000Z',
			end: '2026-01-10T12:00:00.000Z',
			country: 'DE'
		});
	});
	it('picks an interval from the span', () => {
		expect(autoInterval(new Date(0), new Date(3_600_000))).toBe('minute');
		expect(autoInterval(new Date(0), new Date(86_400_000))).toBe('hour');
		expect(autoInterval(new Date(0), new Date(30 * 86_400_000))).toBe('day');
	});
});
