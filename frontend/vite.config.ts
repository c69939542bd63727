import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

const api = process.env.WHOWHYWHEN_API ?? 'http://127.0.0.1:8000';

export default defineConfig({
	plugins: [sveltekit()],
	// Rolldown reports plugin timings when SvelteKit's post-build (adapter) outlasts the bundle.
	build: { rolldownOptions: { checks: { pluginTimings: false } } },
	server: {
		proxy: {
			'/api': api,
			'/dashapi': api,
			'/dashauth': api
		}
	},
	test: {
		include: ['src/**/*.test.ts'],
		environment: 'happy-dom'
	}
});
