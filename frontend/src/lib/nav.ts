import { goto } from '$app/navigation';
import { page } from '$app/state';
import { clearFilters, withFilter, withRange, type FilterKey, type RangeState } from './url-state';

function go(params: URLSearchParams, replace = false) {
	const qs = params.toString();
	return goto(`${page.url.pathname}${qs ? `?${qs}` : ''}`, {
		replaceState: replace,
		keepFocus: true,
		noScroll: true
	});
}

/** Click-to-filter: a drill-down, so it pushes history (Back undoes it). */
export const setFilter = (key: FilterKey, value: string | null) =>
	go(withFilter(page.url.searchParams, key, value));
export const clearAllFilters = () => go(clearFilters(page.url.searchParams));
export const setRange = (range: Partial<RangeState>) => go(withRange(page.url.searchParams, range));
