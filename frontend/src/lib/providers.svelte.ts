import { client, unwrap } from '$lib/api/client';

let cached: Promise<boolean> | null = null;

/** Whether the server offers Google sign-in (asked once per page load). */
export function googleEnabled() {
	const state = $state({ value: false });
	cached ??= unwrap(client.GET('/dashauth/oauth/providers'))
		.then((r) => r.google)
		.catch(() => false);
	cached.then((v) => (state.value = v));
	return state;
}
