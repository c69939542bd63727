import { toasts } from './toasts.svelte';

/**
 * Re-runs `fn` whenever the reactive values it reads change; exposes data / loading / error.
 * Must be created during component initialisation.
 */
export function useLoad<T>(fn: (signal: AbortSignal) => Promise<T>) {
	const state = $state({
		data: null as T | null,
		loading: true,
		error: null as string | null,
		version: 0
	});
	$effect(() => {
		void state.version;
		const ctrl = new AbortController();
		state.loading = true;
		fn(ctrl.signal)
			.then((d) => {
				if (ctrl.signal.aborted) return;
				state.data = d;
				state.error = null;
			})
			.catch((e) => {
				if (ctrl.signal.aborted) return;
				state.error = e instanceof Error ? e.message : String(e);
				toasts.error(e);
			})
			.finally(() => {
				if (!ctrl.signal.aborted) state.loading = false;
			});
		return () => ctrl.abort();
	});
	return {
		get data() {
			return state.data;
		},
		get loading() {
			return state.loading;
		},
		get error() {
			return state.error;
		},
		reload() {
			state.version++;
		}
	};
}
