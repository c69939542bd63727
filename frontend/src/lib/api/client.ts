/**
 * The typed API client (openapi-fetch over the generated `schema.d.ts`) plus the session
 * plumbing: bearer token from memory, one refresh-and-retry on 401, the server's error message.
 */
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

export const AUTH = {
	refreshPath: '/dashauth/refresh',
	/** `__Host-` prefixed when the server sets Secure cookies (the default). */
	csrfCookies: ['__Host-wwy_csrf', 'wwy_csrf'],
	csrfHeader: 'X-CSRF-Token'
};

let accessToken: string | null = null;
let onUnauthorized: (() => void) | null = null;

export function setAccessToken(token: string | null) {
	accessToken = token;
}
export function getAccessToken() {
	return accessToken;
}
export function setUnauthorizedHandler(fn: () => void) {
	onUnauthorized = fn;
}

export function readCookie(name: string): string | null {
	if (typeof document === 'undefined') return null;
	for (const part of document.cookie.split(';')) {
		const [k, ...v] = part.trim().split('=');
		if (k === name) return decodeURIComponent(v.join('='));
	}
	return null;
}

export function csrfToken(): string | null {
	for (const name of AUTH.csrfCookies) {
		const v = readCookie(name);
		if (v) return v;
	}
	return null;
}

export function csrfHeaders(): Record<string, string> {
	const token = csrfToken();
	return token ? { [AUTH.csrfHeader]: token } : {};
}

export class ApiError extends Error {
	constructor(
		public status: number,
		message: string,
		public body: unknown = null
	) {
		super(message);
	}
}

/** The human message from our error envelope `{error, detail}` or FastAPI's `{detail}`. */
export function errorMessage(body: unknown, status: number): string {
	if (body && typeof body === 'object') {
		const detail = (body as { detail?: unknown }).detail;
		if (typeof detail === 'string') return detail;
		if (Array.isArray(detail) && detail.length) {
			return detail
				.map((d) => {
					if (typeof d === 'string') return d;
					const loc = Array.isArray(d?.loc)
						? d.loc.filter((x: unknown) => x !== 'body').join('.')
						: d?.field;
					return loc ? `${loc}: ${d?.msg ?? d?.reason ?? ''}` : (d?.msg ?? JSON.stringify(d));
				})
				.join('; ');
		}
		if (detail && typeof detail === 'object' && 'message' in detail)
			return String((detail as { message: unknown }).message);
		const err = (body as { error?: unknown }).error;
		if (typeof err === 'string') return err;
	}
	return status === 0 ? 'Network error' : `Request failed (${status})`;
}

let refreshing: Promise<boolean> | null = null;

/** Exchanges the httpOnly refresh cookie for a new access token (single flight). */
export function refreshSession(): Promise<boolean> {
	refreshing ??= (async () => {
		// No CSRF cookie means no refresh cookie either: skip a request bound to answer 401.
		if (!csrfToken()) return false;
		try {
			const res = await fetch(AUTH.refreshPath, {
				method: 'POST',
				credentials: 'same-origin',
				headers: { Accept: 'application/json', ...csrfHeaders() }
			});
			if (!res.ok) return false;
			const body = (await res.json()) as { access_token?: string };
			if (!body.access_token) return false;
			accessToken = body.access_token;
			return true;
		} catch {
			return false;
		} finally {
			setTimeout(() => (refreshing = null), 0);
		}
	})();
	return refreshing;
}

const auth: Middleware = {
	onRequest({ request }) {
		if (accessToken) request.headers.set('Authorization', `Bearer ${accessToken}`);
		for (const [k, v] of Object.entries(csrfHeaders())) request.headers.set(k, v);
		return request;
	}
};

/** Sign-in steps answer 401 for a wrong password or code: that is not an expired session. */
const NO_REFRESH = ['/dashauth/login', '/dashauth/token', '/dashauth/2fa/verify', AUTH.refreshPath];

/** An expired access token gets one refresh and one retry; a dead session signs the user out. */
async function authedFetch(input: Request): Promise<Response> {
	const retry = input.clone();
	const res = await fetch(input);
	if (res.status !== 401 || NO_REFRESH.includes(new URL(input.url).pathname)) return res;
	if (await refreshSession()) {
		retry.headers.set('Authorization', `Bearer ${accessToken}`);
		return fetch(retry);
	}
	onUnauthorized?.();
	return res;
}

export const client = createClient<paths>({
	baseUrl: typeof location === 'undefined' ? 'http://localhost' : location.origin,
	credentials: 'same-origin',
	fetch: authedFetch
});
client.use(auth);

/** Resolves an openapi-fetch call to its data, or throws an ApiError with the server's message. */
export async function unwrap<T>(
	promise: Promise<{ data?: T; error?: unknown; response: Response }>
): Promise<T> {
	let result: { data?: T; error?: unknown; response: Response };
	try {
		result = await promise;
	} catch (e) {
		if (e instanceof DOMException && e.name === 'AbortError') throw e;
		throw new ApiError(0, 'Network error: the server did not answer');
	}
	const { data, error, response } = result;
	if (!response.ok)
		throw new ApiError(response.status, errorMessage(error, response.status), error);
	return data as T;
}
