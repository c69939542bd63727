/** Plausible-style keyboard shortcuts (pure mapping, unit-tested). */
import type { Preset } from './url-state';

export type ShortcutAction =
	| { kind: 'preset'; preset: Preset }
	| { kind: 'shift'; direction: -1 | 1 }
	| { kind: 'compare' }
	| { kind: 'clear' }
	| { kind: 'search' }
	| { kind: 'help' }
	| { kind: 'live' };

export const SHORTCUTS: { keys: string; label: string }[] = [
	{ keys: 'H', label: 'Last hour' },
	{ keys: 'D', label: 'Last 24 hours' },
	{ keys: 'W', label: 'Last 7 days' },
	{ keys: 'T', label: 'Last 30 days' },
	{ keys: 'C', label: 'Custom range' },
	{ keys: 'R', label: 'Realtime (live tail)' },
	{ keys: '← / →', label: 'Previous / next period' },
	{ keys: 'X', label: 'Toggle comparison' },
	{ keys: '/', label: 'Search requests' },
	{ keys: 'Esc', label: 'Clear filters' },
	{ keys: '?', label: 'Show this help' }
];

export function shortcutFor(e: {
	key: string;
	ctrlKey?: boolean;
	metaKey?: boolean;
	altKey?: boolean;
	target?: EventTarget | null;
}): ShortcutAction | null {
	if (e.ctrlKey || e.metaKey || e.altKey) return null;
	const t = e.target as { tagName?: string; isContentEditable?: boolean } | null;
	if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName ?? ''))) {
		return null;
	}
	switch (e.key) {
		case 'h':
		case 'H':
			return { kind: 'preset', preset: '1h' };
		case 'd':
		case 'D':
			return { kind: 'preset', preset: '24h' };
		case 'w':
		case 'W':
			return { kind: 'preset', preset: '7d' };
		case 't':
		case 'T':
			return { kind: 'preset', preset: '30d' };
		case 'c':
		case 'C':
			return { kind: 'preset', preset: 'custom' };
		case 'r':
		case 'R':
			return { kind: 'live' };
		case 'ArrowLeft':
			return { kind: 'shift', direction: -1 };
		case 'ArrowRight':
			return { kind: 'shift', direction: 1 };
		case 'x':
		case 'X':
			return { kind: 'compare' };
		case 'Escape':
			return { kind: 'clear' };
		case '/':
			return { kind: 'search' };
		case '?':
			return { kind: 'help' };
		default:
			return null;
	}
}
