import { defineConfig } from '@playwright/test';

// Debian's Chromium, launched by path: `npx playwright install` cannot download here.
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export default defineConfig({
	testDir: 'e2e',
	globalSetup: './e2e/global-setup.ts',
	timeout: Number(process.env.E2E_TIMEOUT ?? 240_000),
	expect: { timeout: 15_000 },
	workers: 1,
	reporter: [['list']],
	use: {
		launchOptions: { executablePath, args: ['--no-sandbox'] },
		viewport: { width: 1360, height: 900 },
		colorScheme: 'light',
		trace: 'retain-on-failure'
	}
});
