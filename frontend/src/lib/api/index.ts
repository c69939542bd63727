/** One function per dashboard API route; call sites never build URLs themselves. */
import { client, unwrap } from './client';
import type { paths } from './schema';
import type { Page, RequestRow } from './types';

type Q = Record<string, string | number | undefined> | undefined;
type Id = string | number;
const pid = (id: Id) => ({ project_id: Number(id) });

/** The password (and 2FA code) that sensitive operations need in the same request. */
export type Reauth = { password: string; code?: string };
const reauthBody = ({ password, code }: Reauth) => ({
	password,
	code: code?.replace(/\s/g, '') || null
});

export const auth = {
	register: (body: { name: string; email: string; password: string; project_name?: string }) =>
		unwrap(client.POST('/dashauth/register', { body })),
	login: (email: string, password: string) =>
		unwrap(client.POST('/dashauth/login', { body: { email, password } })),
	verify2fa: (body: { challenge_token?: string | null; code?: string; recovery_code?: string }) =>
		unwrap(client.POST('/dashauth/2fa/verify', { body })),
	me: () => unwrap(client.GET('/dashauth/users/me')),
	updateMe: (name: string) => unwrap(client.PATCH('/dashauth/users/me', { body: { name } })),
	logout: () => unwrap(client.POST('/dashauth/logout')),
	changePassword: (current_password: string, new_password: string, code?: string) =>
		unwrap(
			client.POST('/dashauth/change-password', {
				body: { current_password, new_password, code: code || null }
			})
		),
	forgotPassword: (email: string) =>
		unwrap(client.POST('/dashauth/forgot-password', { body: { email } })),
	resetPassword: (token: string, new_password: string) =>
		unwrap(client.POST('/dashauth/reset-password', { body: { token, new_password } })),
	sessions: () => unwrap(client.GET('/dashauth/sessions')),
	revokeSession: (session_id: string) =>
		unwrap(client.DELETE('/dashauth/sessions/{session_id}', { params: { path: { session_id } } })),
	totpSetup: () => unwrap(client.POST('/dashauth/2fa/setup')),
	totpEnable: (code: string) => unwrap(client.POST('/dashauth/2fa/enable', { body: { code } })),
	totpDisable: (password: string, code: string) =>
		unwrap(client.POST('/dashauth/2fa/disable', { body: { password, code } })),
	recoveryCodes: (password: string, code: string) =>
		unwrap(client.POST('/dashauth/2fa/recovery-codes', { body: { password, code } }))
};

export const projects = {
	list: () => unwrap(client.GET('/dashapi/projects')),
	get: (id: Id) =>
		unwrap(client.GET('/dashapi/projects/{project_id}', { params: { path: pid(id) } })),
	create: (name: string) => unwrap(client.POST('/dashapi/projects', { body: { name } })),
	update: (
		id: Id,
		body: { name?: string; timezone?: string; retention_days?: number; anonymize_ip?: boolean }
	) => unwrap(client.PATCH('/dashapi/projects/{project_id}', { params: { path: pid(id) }, body })),
	/** Owner only; `password` (and `code` with 2FA on) re-authenticate the user for it. */
	remove: (id: Id, confirm_name: string, reauth: Reauth) =>
		unwrap(
			client.DELETE('/dashapi/projects/{project_id}', {
				params: { path: pid(id) },
				body: { confirm_name, ...reauthBody(reauth) }
			})
		),
	/** Owner only; the new owner must already be a member. */
	transfer: (id: Id, userId: number, reauth: Reauth) =>
		unwrap(
			client.POST('/dashapi/projects/{project_id}/transfer', {
				params: { path: pid(id) },
				body: { user_id: userId, ...reauthBody(reauth) }
			})
		),
	members: (id: Id) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/members', { params: { path: pid(id) } })),
	setRole: (id: Id, userId: number, role: 'owner' | 'admin' | 'member' | 'viewer') =>
		unwrap(
			client.PATCH('/dashapi/projects/{project_id}/members/{user_id}', {
				params: { path: { ...pid(id), user_id: userId } },
				body: { role }
			})
		),
	removeMember: (id: Id, userId: number) =>
		unwrap(
			client.DELETE('/dashapi/projects/{project_id}/members/{user_id}', {
				params: { path: { ...pid(id), user_id: userId } }
			})
		),
	invitations: (id: Id) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/invitations', { params: { path: pid(id) } })),
	invite: (id: Id, email: string, role: 'admin' | 'member' | 'viewer') =>
		unwrap(
			client.POST('/dashapi/projects/{project_id}/invitations', {
				params: { path: pid(id) },
				body: { email, role }
			})
		),
	revokeInvitation: (id: Id, invitationId: number) =>
		unwrap(
			client.DELETE('/dashapi/projects/{project_id}/invitations/{invitation_id}', {
				params: { path: { ...pid(id), invitation_id: invitationId } }
			})
		),
	acceptInvitation: (token: string) =>
		unwrap(client.POST('/dashapi/invitations/accept', { body: { token } }))
};

export const keys = {
	list: (id: Id) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/apikeys', { params: { path: pid(id) } })),
	create: (id: Id, name: string) =>
		unwrap(
			client.POST('/dashapi/projects/{project_id}/apikeys', {
				params: { path: pid(id) },
				body: { name }
			})
		),
	revoke: (id: Id, keyId: number) =>
		unwrap(
			client.DELETE('/dashapi/projects/{project_id}/apikeys/{key_id}', {
				params: { path: { ...pid(id), key_id: keyId } }
			})
		)
};

export const ingest = {
	outcomes: (id: Id, days = 7) =>
		unwrap(
			client.GET('/dashapi/projects/{project_id}/ingest/outcomes', {
				params: { path: pid(id), query: { days } }
			})
		)
};

type StatsParams = NonNullable<
	paths['/dashapi/projects/{project_id}/stats/summary']['get']['parameters']['query']
>;
type ListParams = StatsParams & { cursor?: string | null; limit?: number };
/** The URL state is strings; the server parses them (and names the field when one is wrong). */
const sq = (query: Q) => (query ?? {}) as unknown as ListParams;
const on = (id: Id, query?: Q) => ({ params: { path: pid(id), query: sq(query) } });

export const stats = {
	summary: (id: Id, query: Q) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/stats/summary', on(id, query))),
	timeline: (id: Id, query: Q) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/stats/timeline', on(id, query))),
	endpoints: (id: Id, query: Q) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/stats/endpoints', on(id, query))),
	statusCodes: (id: Id, query: Q) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/stats/status-codes', on(id, query))),
	userAgents: (id: Id, query: Q) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/stats/user-agents', on(id, query))),
	countries: (id: Id, query: Q) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/stats/countries', on(id, query))),
	bots: (id: Id, query: Q) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/bots', on(id, query))),
	events: (id: Id, query: Q) =>
		unwrap(client.GET('/dashapi/projects/{project_id}/events', on(id, query))),
	requests: (id: Id, query: Q): Promise<Page<RequestRow>> =>
		unwrap(client.GET('/dashapi/projects/{project_id}/requests', on(id, query))),
	request: (id: Id, requestId: Id) =>
		unwrap(
			client.GET('/dashapi/projects/{project_id}/requests/{request_id}', {
				params: { path: { ...pid(id), request_id: Number(requestId) } }
			})
		)
};

const p = (id: Id) => `/dashapi/projects/${encodeURIComponent(String(id))}`;
export const liveUrl = (id: Id) => `${p(id)}/live`;
export const exportUrl = (id: Id, query: Record<string, string>) =>
	`${p(id)}/export.csv?${new URLSearchParams(query)}`;

/** Lists answer `{items}`; tolerate a bare array too. */
export function itemsOf<T>(page: Page<T> | T[] | null | undefined): T[] {
	if (!page) return [];
	return Array.isArray(page) ? page : (page.items ?? []);
}
