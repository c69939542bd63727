import { auth, itemsOf, projects as projectsApi } from '$lib/api';
import { refreshSession, setAccessToken, setUnauthorizedHandler } from '$lib/api/client';
import type { Project, User } from '$lib/api/types';

/** Who is signed in (the access token itself lives only in the client module's memory). */
class Session {
	user = $state<User | null>(null);
	projects = $state<Project[]>([]);
	ready = $state(false);
	expired = $state(false);

	async restore() {
		try {
			if (await refreshSession()) await this.loadUser();
		} catch {
			this.user = null;
		} finally {
			this.ready = true;
		}
		setUnauthorizedHandler(() => {
			if (this.user) this.expired = true;
			this.user = null;
			setAccessToken(null);
		});
	}

	/** Calls that rotate the session answer a new access token. */
	adopt(answer: { access_token?: string | null } | null | undefined) {
		if (answer?.access_token) setAccessToken(answer.access_token);
	}

	async signedIn(accessToken: string) {
		setAccessToken(accessToken);
		this.expired = false;
		await this.loadUser();
	}

	/** User and projects arrive together, so no view sees a user without their projects. */
	async loadUser() {
		const [user, list] = await Promise.all([auth.me(), projectsApi.list()]);
		this.projects = itemsOf(list);
		this.user = user;
	}

	async loadProjects() {
		this.projects = itemsOf(await projectsApi.list());
	}

	async signOut() {
		try {
			await auth.logout();
		} catch {
			// signing out locally is enough when the server session is already gone
		}
		setAccessToken(null);
		this.user = null;
		this.projects = [];
	}
}

export const session = new Session();
