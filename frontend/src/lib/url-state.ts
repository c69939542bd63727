/** Date range and filters, encoded in the URL query string (pure, unit-tested). */

export const PRESETS = ['1h', '24h', '7d', '30d', 'custom'] as const;
export type Preset = (typeof PRESETS)[number];

export const PRESET_LABELS: Record<Preset, string> = {
	'1h': 'Last hour',
	'24h': 'Last 24 hours',
	'7d': 'Last 7 days',
	'30d': 'Last 30 days',
	custom: 'Custom range'
};

const PRESET_MS: Record<Exclude<Preset, 'custom'>, number> = {
	'1h': 3_600_000,
	'24h': 86_400_000,
	'7d': 7 * 86_400_000,
	'30d': 30 * 86_400_000
};

export const FILTER_KEYS = [
	'method',
	'path',
	'route',
	'status',
	'status_class',
	'ip',
	'user_agent',
	'country',
	'bot',
	'consumer',
	'q'
] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type Filters = Partial<Record<FilterKey, string>>;

export const FILTER_LABELS: Record<FilterKey, string> = {
	method: 'Method',
	path: 'Path',
	route: 'Endpoint',
	status: 'Status',
	status_class: 'Status class',
	ip: 'IP',
	user_agent: 'User agent',
	country: 'Country',
	bot: 'Bot',
	consumer: 'Consumer',
	q: 'Search'
};

export interface RangeState {
	period: Preset;
	/** Custom bounds (ISO), only when period is custom. */
	from?: string;
	to?: string;
	compare: boolean;
	interval?: 'minute' | 'hour' | 'day';
}

export interface ViewState {
	range: RangeState;
	filters: Filters;
}

export const DEFAULT_PERIOD: Preset = '24h';

function isPreset(v: string | null): v is Preset {
	return v !== null && (PRESETS as readonly string[]).includes(v);
}

function validIso(v: string | null): string | undefined {
	if (!v) return undefined;
	const t = Date.parse(v);
	return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

export function parseViewState(params: URLSearchParams): ViewState {
	const rawPeriod = params.get('period');
	let period: Preset = isPreset(rawPeriod) ? rawPeriod : DEFAULT_PERIOD;
	const from = validIso(params.get('from'));
	const to = validIso(params.get('to'));
	if (period === 'custom' && (!from || !to)) period = DEFAULT_PERIOD;
	const interval = params.get('interval');
	const range: RangeState = {
		period,
		compare: params.get('compare') !== 'off',
		...(period === 'custom' ? { from, to } : {}),
		...(interval === 'minute' || interval === 'hour' || interval === 'day' ? { interval } : {})
	};
	const filters: Filters = {};
	for (const key of FILTER_KEYS) {
		const v = params.get(key);
		if (v !== null && v !== '') filters[key] = v;
	}
	return { range, filters };
}

/** Writes the view state into a copy of `params`, keeping unrelated keys. */
export function writeViewState(params: URLSearchParams, state: ViewState): URLSearchParams {
	const out = new URLSearchParams(params);
	for (const k of ['period', 'from', 'to', 'compare', 'interval', ...FILTER_KEYS]) out.delete(k);
	const { range, filters } = state;
	if (range.period !== DEFAULT_PERIOD) out.set('period', range.period);
	if (range.period === 'custom' && range.from && range.to) {
		out.set('from', range.from);
		out.set('to', range.to);
	}
	if (!range.compare) out.set('compare', 'off');
	if (range.interval) out.set('interval', range.interval);
	for (const key of FILTER_KEYS) {
		const v = filters[key];
		if (v !== undefined && v !== '') out.set(key, v);
	}
	return out;
}

export function withFilter(params: URLSearchParams, key: FilterKey, value: string | null) {
	const state = parseViewState(params);
	if (value === null || value === '') delete state.filters[key];
	else state.filters[key] = value;
	return writeViewState(params, state);
}

export function clearFilters(params: URLSearchParams): URLSearchParams {
	const state = parseViewState(params);
	return writeViewState(params, { ...state, filters: {} });
}

export function withRange(params: URLSearchParams, range: Partial<RangeState>): URLSearchParams {
	const state = parseViewState(params);
	const next: RangeState = { ...state.range, ...range };
	if (next.period !== 'custom') {
		delete next.from;
		delete next.to;
	}
	return writeViewState(params, { ...state, range: next });
}

/** Absolute bounds of a range at time `now`. */
export function resolveRange(
	range: RangeState,
	now: Date = new Date()
): { start: Date; end: Date } {
	if (range.period === 'custom' && range.from && range.to) {
		return { start: new Date(range.from), end: new Date(range.to) };
	}
	const span = PRESET_MS[range.period === 'custom' ? '24h' : range.period];
	return { start: new Date(now.getTime() - span), end: now };
}

/** The range moved back (-1) or forward (+1) by its own length; becomes a custom range. */
export function shiftRange(
	range: RangeState,
	direction: -1 | 1,
	now: Date = new Date()
): RangeState {
	const { start, end } = resolveRange(range, now);
	const span = end.getTime() - start.getTime();
	let newEnd = end.getTime() + direction * span;
	if (newEnd > now.getTime()) newEnd = now.getTime();
	const newStart = newEnd - span;
	return {
		...range,
		period: 'custom',
		from: new Date(newStart).toISOString(),
		to: new Date(newEnd).toISOString()
	};
}

/** The interval the server would pick; used for labels. */
export function autoInterval(start: Date, end: Date): 'minute' | 'hour' | 'day' {
	const span = end.getTime() - start.getTime();
	if (span <= 3 * 3_600_000) return 'minute';
	if (span <= 3 * 86_400_000) return 'hour';
	return 'day';
}

/** Query parameters for the stats/list API routes. */
export function apiQuery(state: ViewState, now: Date = new Date()): Record<string, string> {
	const { start, end } = resolveRange(state.range, now);
	const q: Record<string, string> = { start: start.toISOString(), end: end.toISOString() };
	if (state.range.interval) q.interval = state.range.interval;
	for (const key of FILTER_KEYS) {
		const v = state.filters[key];
		if (v !== undefined) q[key] = v;
	}
	return q;
}

/** Keeps only the range and filter keys, for links between views. */
export function carryState(params: URLSearchParams): string {
	const s = writeViewState(new URLSearchParams(), parseViewState(params)).toString();
	return s ? `?${s}` : '';
}
