import { describe, expect, it } from 'vitest';
import {
	countryNumeric,
	countryValues,
	statusColor,
	statusPie,
	timelineChart,
	totalRequests,
	withShare
} from './datasets';

const items = [
	{
		period: '2026-01-01T00:00:00Z',
		count_2xx: 5,
		count_3xx: 1,
		count_4xx: 2,
		count_5xx: 0,
		avg_ms: 12,
		p95_ms: 40
	},
	{
		period: '2026-01-01T01:00:00Z',
		count_2xx: 0,
		count_3xx: 0,
		count_4xx: 0,
		count_5xx: 3,
		avg_ms: null,
		p95_ms: null
	}
];

describe('timelineChart', () => {
	it('stacks four status-class bars on y and two latency lines on y1', () => {
		const c = timelineChart(items, 'hour');
		expect(c.labels).toHaveLength(2);
		expect(c.datasets.map((d) => d.label)).toEqual([
			'2xx',
			'3xx',
			'4xx',
			'5xx',
			'avg response time',
			'p95 response time'
		]);
		expect(
			c.datasets
				.slice(0, 4)
				.every((d) => d.type === 'bar' && d.stack === 'status' && d.yAxisID === 'y')
		).toBe(true);
		expect(c.datasets[3].data).toEqual([0, 3]);
		expect(c.datasets[4]).toMatchObject({ type: 'line', yAxisID: 'y1', data: [12, null] });
		expect(c.datasets[5]).toMatchObject({ borderDash: [6, 4] });
	});
	it('totals requests', () => {
		expect(totalRequests(items)).toBe(11);
	});
});

describe('statusPie', () => {
	it('sorts codes and colours them by class', () => {
		const d = statusPie([
			{ status_code: 500, requests: 1 },
			{ status_code: 200, requests: 9 }
		]);
		expect(d.labels).toEqual(['200', '500']);
		expect(d.datasets[0].data).toEqual([9, 1]);
		expect(d.datasets[0].backgroundColor).toEqual([statusColor(200), statusColor(500)]);
		expect(statusPie(null).labels).toEqual([]);
	});
});

describe('withShare', () => {
	it('sorts by requests and adds the share', () => {
		const rows = withShare([
			{ name: 'a', requests: 1 },
			{ name: 'b', requests: 3 }
		]);
		expect(rows.map((r) => [r.name, r.share])).toEqual([
			['b', 0.75],
			['a', 0.25]
		]);
		expect(withShare([{ requests: 0 }])[0].share).toBe(0);
	});
});

describe('countries', () => {
	it('maps alpha-2 to world-atlas ids', () => {
		expect(countryNumeric('US')).toBe('840');
		expect(countryNumeric('de')).toBe('276');
		expect(countryNumeric('ZZ')).toBeUndefined();
	});
	it('prefers the numeric id the API sends and sums duplicates', () => {
		const m = countryValues([
			{ code: 'US', numeric: '840', requests: 2 },
			{ code: 'US', numeric: null, requests: 3 },
			{ code: null, numeric: null, requests: 9 }
		]);
		expect([...m]).toEqual([['840', 5]]);
	});
});
