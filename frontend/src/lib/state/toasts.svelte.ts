import { ApiError } from '$lib/api/client';

export interface Toast {
	id: number;
	kind: 'error' | 'success' | 'info';
	message: string;
}

class Toasts {
	items = $state<Toast[]>([]);
	#next = 1;

	push(kind: Toast['kind'], message: string, ms = 6000) {
		const id = this.#next++;
		this.items.push({ id, kind, message });
		if (ms) setTimeout(() => this.dismiss(id), ms);
		return id;
	}
	success(message: string) {
		return this.push('success', message, 4000);
	}
	error(e: unknown) {
		if (e instanceof DOMException && e.name === 'AbortError') return;
		const message = e instanceof ApiError || e instanceof Error ? e.message : String(e);
		return this.push('error', message, 8000);
	}
	dismiss(id: number) {
		this.items = this.items.filter((t) => t.id !== id);
	}
}

export const toasts = new Toasts();
