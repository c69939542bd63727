import { describe, expect, it } from 'vitest';
import {
	botCategoryLabel,
	countryName,
	delta,
	flag,
	formatMs,
	formatNumber,
	formatPct,
	queryPairs,
	relativeTime,
	statusClass
} from './format';

describe('numbers', () => {
	it('formats counts, compacting large ones', () => {
		expect(formatNumber(1234)).toBe('1,234');
		expect(formatNumber(12_345)).toBe('12.3K');
		expect(formatNumber(null)).toBe('–');
	});
	it('formats durations in ms and s', () => {
		expect(formatMs(3.14159)).toBe('3.1 ms');
		expect(formatMs(42.4)).toBe('42 ms');
		expect(formatMs(1500)).toBe('1.50 s');
		expect(formatMs(12_000)).toBe('12.0 s');
		expect(formatMs(undefined)).toBe('–');
	});
	it('formats ratios as percentages', () => {
		expect(formatPct(0.1234)).toBe('12.3%');
		expect(formatPct(0.5, 0)).toBe('50%');
	});
});

describe('delta', () => {
	it('colours by polarity', () => {
		expect(delta(120, 100)).toEqual({ change: 0.2, label: '↑20%', tone: 'good' });
		expect(delta(120, 100, false).tone).toBe('bad');
		expect(delta(80, 100, false)).toMatchObject({ label: '↓20%', tone: 'good' });
		expect(delta(80, 100, null).tone).toBe('neutral');
	});
	it('handles a zero or missing basis', () => {
		expect(delta(5, 0).label).toBe('new');
		expect(delta(0, 0).label).toBe('0%');
		expect(delta(null, 3).label).toBe('–');
	});
});

describe('misc', () => {
	it('relative time', () => {
		const now = new Date('2026-01-01T12:00:00Z');
		expect(relativeTime('2026-01-01T11:59:58Z', now)).toBe('just now');
		expect(relativeTime('2026-01-01T11:55:00Z', now)).toBe('5 min ago');
		expect(relativeTime('2026-01-01T09:00:00Z', now)).toBe('3 h ago');
		expect(relativeTime(null, now)).toBe('never');
	});
	it('countries and flags', () => {
		expect(countryName('DE')).toBe('Germany');
		expect(countryName(null)).toBe('Unknown');
		expect(flag('us')).toBe('🇺🇸');
		expect(flag('<script>')).toBe('🏳');
	});
	it('status classes and bot categories', () => {
		expect(statusClass(204)).toBe('2xx');
		expect(statusClass(503)).toBe('5xx');
		expect(botCategoryLabel('ai_crawler')).toBe('AI crawlers');
		expect(botCategoryLabel('nonsense')).toBe('Other');
	});
	it('query pairs from strings and list-valued objects', () => {
		expect(queryPairs('?a=1&b=x%20y')).toEqual([
			['a', '1'],
			['b', 'x y']
		]);
		expect(queryPairs({ tag: ['a', 'b'], q: 'z' })).toEqual([
			['tag', 'a'],
			['tag', 'b'],
			['q', 'z']
		]);
		expect(queryPairs(null)).toEqual([]);
	});
});
