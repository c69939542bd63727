/** Formatters (pure, unit-tested). */

const nf = new Intl.NumberFormat('en');

export function formatNumber(n: number | null | undefined): string {
	if (n === null || n === undefined || Number.isNaN(n)) return '–';
	if (Math.abs(n) >= 10_000) {
		return new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 }).format(n);
	}
	return nf.format(Math.round(n * 100) / 100);
}

export function formatMs(ms: number | null | undefined): string {
	if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
	if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
	if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
	if (ms >= 10) return `${Math.round(ms)} ms`;
	return `${ms.toFixed(1)} ms`;
}

/** `ratio` in 0..1. */
export function formatPct(ratio: number | null | undefined, digits = 1): string {
	if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '–';
	return `${(ratio * 100).toFixed(digits)}%`;
}

export interface Delta {
	/** Relative change, e.g. 0.25 for +25 %; null when there is no basis. */
	change: number | null;
	label: string;
	/** good / bad / neutral for colouring, given whether higher is better. */
	tone: 'good' | 'bad' | 'neutral';
}

export function delta(
	current: number | null | undefined,
	previous: number | null | undefined,
	higherIsBetter: boolean | null = true
): Delta {
	if (current === null || current === undefined || previous === null || previous === undefined) {
		return { change: null, label: '–', tone: 'neutral' };
	}
	if (previous === 0) {
		if (current === 0) return { change: 0, label: '0%', tone: 'neutral' };
		return { change: null, label: 'new', tone: 'neutral' };
	}
	const change = (current - previous) / Math.abs(previous);
	const pct = Math.round(change * 100);
	const label = `${pct > 0 ? '↑' : pct < 0 ? '↓' : ''}${Math.abs(pct)}%`;
	let tone: Delta['tone'] = 'neutral';
	if (pct !== 0 && higherIsBetter !== null) tone = pct > 0 === higherIsBetter ? 'good' : 'bad';
	return { change, label, tone };
}

export function relativeTime(iso: string | null | undefined, now: Date = new Date()): string {
	if (!iso) return 'never';
	const t = Date.parse(iso);
	if (Number.isNaN(t)) return '–';
	const s = Math.round((now.getTime() - t) / 1000);
	if (s < 5) return 'just now';
	if (s < 60) return `${s}s ago`;
	const m = Math.round(s / 60);
	if (m < 60) return `${m} min ago`;
	const h = Math.round(m / 60);
	if (h < 48) return `${h} h ago`;
	return `${Math.round(h / 24)} d ago`;
}

export function formatDateTime(iso: string | null | undefined): string {
	if (!iso) return '–';
	const d = new Date(iso);
	if (Number.isNaN(d.getTime())) return '–';
	return d.toLocaleString('en-GB', {
		year: 'numeric',
		month: 'short',
		day: '2-digit',
		hour: '2-digit',
		minute: '2-digit',
		second: '2-digit'
	});
}

/** Axis label for a period start, by interval. */
export function formatPeriod(iso: string, interval: string): string {
	const d = new Date(iso);
	if (interval === 'day') return d.toLocaleDateString('en-GB', { month: 'short', day: '2-digit' });
	if (interval === 'hour')
		return d.toLocaleString('en-GB', { day: '2-digit', hour: '2-digit', minute: '2-digit' });
	return d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}

let regionNames: Intl.DisplayNames | null = null;
export function countryName(code: string | null | undefined): string {
	if (!code) return 'Unknown';
	try {
		regionNames ??= new Intl.DisplayNames(['en'], { type: 'region' });
		return regionNames.of(code.toUpperCase()) ?? code;
	} catch {
		return code;
	}
}

export function flag(code: string | null | undefined): string {
	if (!code || !/^[a-z]{2}$/i.test(code)) return '🏳';
	return String.fromCodePoint(...[...code.toUpperCase()].map((c) => 0x1f1a5 + c.charCodeAt(0)));
}

export function statusClass(status: number): '2xx' | '3xx' | '4xx' | '5xx' | '1xx' {
	return `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx` as '2xx';
}

export const BOT_CATEGORIES = {
	search_engine: 'Search engines',
	ai_crawler: 'AI crawlers',
	seo: 'SEO',
	social_media: 'Social media',
	monitoring: 'Monitoring',
	scraper: 'Scrapers & tools',
	other: 'Other'
} as const;

export function botCategoryLabel(c: string | null | undefined): string {
	return (c && (BOT_CATEGORIES as Record<string, string>)[c]) || 'Other';
}

/** Splits a URL's query string into ordered [key, value] pairs. */
export function queryPairs(query: string | Record<string, unknown> | null | undefined) {
	if (!query) return [] as [string, string][];
	if (typeof query === 'object')
		return Object.entries(query).flatMap(([k, v]) =>
			(Array.isArray(v) ? v : [v]).map((x) => [k, String(x)] as [string, string])
		);
	return [...new URLSearchParams(query.startsWith('?') ? query.slice(1) : query)];
}
