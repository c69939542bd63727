/** API results → Chart.js datasets (pure, unit-tested). */
import { formatPeriod } from './format';

export interface TimelineItem {
	period: string;
	count_2xx: number;
	count_3xx: number;
	count_4xx: number;
	count_5xx: number;
	avg_ms: number | null;
	p95_ms: number | null;
}

export interface Palette {
	s2xx: string;
	s3xx: string;
	s4xx: string;
	s5xx: string;
	avg: string;
	p95: string;
}

export const DEFAULT_PALETTE: Palette = {
	s2xx: '#22c55e',
	s3xx: '#3b82f6',
	s4xx: '#f59e0b',
	s5xx: '#ef4444',
	avg: '#8b5cf6',
	p95: '#ec4899'
};

/** The seed's "Requests per period": stacked bars by status class + avg/p95 lines on a 2nd axis. */
export function timelineChart(items: TimelineItem[], interval: string, palette = DEFAULT_PALETTE) {
	const labels = items.map((i) => formatPeriod(i.period, interval));
	const bar = (label: string, key: keyof TimelineItem, color: string) => ({
		type: 'bar' as const,
		label,
		data: items.map((i) => Number(i[key] ?? 0)),
		backgroundColor: color,
		stack: 'status',
		yAxisID: 'y',
		order: 2
	});
	const line = (label: string, key: 'avg_ms' | 'p95_ms', color: string, dash: number[]) => ({
		type: 'line' as const,
		label,
		data: items.map((i) => (i[key] === null || i[key] === undefined ? null : Number(i[key]))),
		borderColor: color,
		backgroundColor: color,
		borderDash: dash,
		pointRadius: 0,
		borderWidth: 2,
		tension: 0.25,
		spanGaps: true,
		yAxisID: 'y1',
		order: 1
	});
	return {
		labels,
		datasets: [
			bar('2xx', 'count_2xx', palette.s2xx),
			bar('3xx', 'count_3xx', palette.s3xx),
			bar('4xx', 'count_4xx', palette.s4xx),
			bar('5xx', 'count_5xx', palette.s5xx),
			line('avg response time', 'avg_ms', palette.avg, []),
			line('p95 response time', 'p95_ms', palette.p95, [6, 4])
		]
	};
}

export function totalRequests(items: TimelineItem[]): number {
	return items.reduce((n, i) => n + i.count_2xx + i.count_3xx + i.count_4xx + i.count_5xx, 0);
}

const CLASS_COLORS: Record<string, string> = {
	'1': '#94a3b8',
	'2': DEFAULT_PALETTE.s2xx,
	'3': DEFAULT_PALETTE.s3xx,
	'4': DEFAULT_PALETTE.s4xx,
	'5': DEFAULT_PALETTE.s5xx
};

export function statusColor(code: number | string): string {
	return CLASS_COLORS[String(code).charAt(0)] ?? '#94a3b8';
}

/** `[{status_code, requests}]` → doughnut data, sorted by code. */
export function statusPie(codes: { status_code: number; requests: number }[] | null | undefined) {
	const entries: [string, number][] = (codes ?? []).map((c) => [
		String(c.status_code),
		Number(c.requests)
	]);
	entries.sort((a, b) => a[0].localeCompare(b[0]));
	return {
		labels: entries.map((e) => e[0]),
		datasets: [
			{
				data: entries.map((e) => e[1]),
				backgroundColor: entries.map((e) => statusColor(e[0])),
				borderWidth: 0
			}
		]
	};
}

/** Rows with a request count → share of the total (0..1), largest first. */
export function withShare<T extends { requests: number }>(rows: T[]) {
	const value = (r: T) => Number(r.requests ?? 0);
	const total = rows.reduce((n, r) => n + value(r), 0);
	return [...rows]
		.sort((a, b) => value(b) - value(a))
		.map((r) => ({ ...r, value: value(r), share: total ? value(r) / total : 0 }));
}

const NUMERIC =
	'AW533AF004AO024AI660AX248AL008AD020AE784AR032AM051AS016AQ010TF260AG028AU036AT040AZ031BI108BE056BJ204BQ535BF854BD050BG100BH048BS044BA070BL652BY112BZ084BM060BO068BR076BB052BN096BT064BV074BW072CF140CA124CC166CH756CL152CN156CI384CM120CD180CG178CK184CO170KM174CV132CR188CU192CW531CX162KY136CY196CZ203DE276DJ262DM212DK208DO214DZ012EC218EG818ER232EH732ES724EE233ET231FI246FJ242FK238FR250FO234FM583GA266GB826GE268GG831GH288GI292GN324GP312GM270GW624GQ226GR300GD308GL304GT320GF254GU316GY328HK344HM334HN340HR191HT332HU348ID360IM833IN356IO086IE372IR364IQ368IS352IL376IT380JM388JE832JO400JP392KZ398KE404KG417KH116KI296KN659KR410KW414LA418LB422LR430LY434LC662LI438LK144LS426LT440LU442LV428MO446MF663MA504MC492MD498MG450MV462MX484MH584MK807ML466MT470MM104ME499MN496MP580MZ508MR478MS500MQ474MU480MW454MY458YT175NA516NC540NE562NF574NG566NI558NU570NL528NO578NP524NR520NZ554OM512PK586PA591PN612PE604PH608PW585PG598PL616PR630KP408PT620PY600PS275PF258QA634RE638RO642RU643RW646SA682SD729SN686SG702GS239SH654SJ744SB090SL694SV222SM674SO706PM666RS688SS728ST678SR740SK703SI705SE752SZ748SX534SC690SY760TC796TD148TG768TH764TJ762TK772TM795TL626TO776TT780TN788TR792TV798TW158TZ834UG800UA804UM581UY858US840UZ860VA336VC670VE862VG092VI850VN704VU548WF876WS882YE887ZA710ZM894ZW716';
const ALPHA2_TO_NUMERIC = new Map<string, string>();
for (let i = 0; i < NUMERIC.length; i += 5)
	ALPHA2_TO_NUMERIC.set(NUMERIC.slice(i, i + 2), NUMERIC.slice(i + 2, i + 5));

/** ISO alpha-2 → ISO numeric as used by world-atlas ids ("US" → "840"). */
export function countryNumeric(alpha2: string | null | undefined): string | undefined {
	return alpha2 ? ALPHA2_TO_NUMERIC.get(alpha2.toUpperCase()) : undefined;
}

export interface CountryRow {
	code: string | null;
	numeric: string | null;
	requests: number;
}

/** Country rows → requests per world-atlas feature id (ISO numeric, as the API sends it). */
export function countryValues(rows: CountryRow[]): Map<string, number> {
	const out = new Map<string, number>();
	for (const r of rows) {
		const id = r.numeric ?? countryNumeric(r.code);
		if (!id) continue;
		out.set(id, (out.get(id) ?? 0) + Number(r.requests ?? 0));
	}
	return out;
}
