/**
 * The whole product in a real browser against a real server on a fresh database:
 * sign up → project → key → events through the Python SDK → every view shows them → filters and
 * click-to-filter → 2FA enrolment and a second sign-in with a code → revoke the key → transfer
 * the project (password and code again).
 * Any console error or uncaught page error fails the run. Screenshots go to docs/images/.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { totp } from './totp';

const repo = resolve(import.meta.dirname, '../..');
const images = resolve(repo, 'docs/images');
mkdirSync(images, { recursive: true });

const base = () => {
	const url = process.env.E2E_BASE_URL;
	if (!url) throw new Error('E2E_BASE_URL is not set (global setup did not run)');
	return url;
};

function sendEvents(key: string, count?: number | string, ...extra: string[]) {
	const python = process.env.WHOWHYWHEN_PYTHON ?? resolve(repo, '.venv/bin/python');
	return execFileSync(
		python,
		[
			resolve(import.meta.dirname, 'send_events.py'),
			key,
			base(),
			...(count ? [String(count)] : []),
			...extra
		],
		{
			encoding: 'utf8',
			env: { ...process.env, PYTHONPATH: resolve(repo, 'sdk/python/src') },
			timeout: 60_000
		}
	);
}

function watchConsole(page: Page, errors: string[]) {
	page.on('console', (msg) => {
		if (msg.type() === 'error') errors.push(`${page.url()}: ${msg.text()}`);
	});
	page.on('pageerror', (err) => errors.push(`${page.url()}: ${err.message}`));
}

const nav = (page: Page, name: string) =>
	page
		.getByRole('navigation', { name: 'Project' })
		.getByRole('link', { name, exact: true })
		.click();

async function shot(page: Page, name: string) {
	// The live views keep an SSE stream open, so "network idle" never comes: wait for our own
	// loading indicators to go, then for charts to settle.
	await expect(page.locator('[aria-busy="true"]')).toHaveCount(0);
	await page.waitForTimeout(400);
	await page.screenshot({ path: resolve(images, `${name}.png`), fullPage: false });
}

const user = {
	name: 'Ada Lovelace',
	email: 'ada@example.com',
	password: 'correct horse battery 9'
};

test('sign up to 2FA: every view against the real server', async ({ page, browser }) => {
	const errors: string[] = [];
	watchConsole(page, errors);

	await test.step('sign up', async () => {
		await page.goto(`${base()}/p/1/requests?status=500`);
		await expect(page).toHaveURL(/\/login\?next=/);
		await page.getByRole('link', { name: 'Create an account' }).click();
		await page.getByLabel('Name').fill(user.name);
		await page.getByLabel('Email').fill(user.email);
		await page.getByLabel('Password').fill(user.password);
		await page.getByRole('button', { name: 'Create account' }).click();
		await expect(page).toHaveURL(/\/onboarding$/);
	});

	let key = '';
	let projectPath = '';
	let inviteLink = '';
	await test.step('onboarding: project → key → snippet → waiting → dashboard on the first event', async () => {
		await page.getByLabel('Project name').fill('Shop API');
		await page.getByRole('button', { name: 'Create project' }).click();
		key = (await page.getByTestId('new-key').textContent())?.trim() ?? '';
		expect(key.length).toBeGreaterThan(10);
		const snippet = page.getByTestId('snippet');
		await expect(snippet).toContainText(key);
		await expect(snippet).toContainText(base());
		for (const fw of ['Flask', 'Django', 'Express', 'curl']) {
			await page.getByRole('tab', { name: fw }).click();
			await expect(snippet).toContainText(key);
		}
		await page.getByRole('tab', { name: 'FastAPI' }).click();
		await expect(page.getByTestId('waiting')).toBeVisible();
		await shot(page, 'onboarding');
		sendEvents(key);
		await expect(page).toHaveURL(/\/p\/\d+$/, { timeout: 30_000 });
		projectPath = new URL(page.url()).pathname;
		// The page flipped on the first acknowledged batch; reload to see all of them (this also
		// proves the session survives a reload through the refresh cookie).
		await page.reload();
	});

	await test.step('overview shows the traffic', async () => {
		const kpis = page.getByTestId('kpis');
		await expect(kpis).toContainText('Requests');
		await expect(kpis.locator('.value').first()).toHaveText('24');
		await expect(page.getByRole('table', { name: 'Endpoint' })).toContainText('/users/{id}');
		await expect(page.getByRole('table', { name: 'Status' })).toContainText('404');
		await expect(page.getByRole('table', { name: 'Country' })).toContainText('United States');
		await expect(page.getByRole('table', { name: 'Browser' })).toContainText('Chrome');
		await shot(page, 'dashboard');
	});

	await test.step('click-to-filter, chips, back and forward', async () => {
		await page.getByRole('table', { name: 'Status' }).getByRole('button', { name: '404' }).click();
		await expect(page).toHaveURL(/status=404/);
		await expect(page.getByTestId('filter-chip')).toContainText('Status is 404');
		await expect(page.getByTestId('kpis').locator('.value').first()).toHaveText('3');
		await page.goBack();
		await expect(page.getByTestId('filter-chip')).toHaveCount(0);
		await page.goForward();
		await expect(page.getByTestId('filter-chip')).toHaveCount(1);
		await page.keyboard.press('Escape');
		await expect(page.getByTestId('filter-chip')).toHaveCount(0);
		await page.keyboard.press('w');
		await expect(page).toHaveURL(/period=7d/);
		await expect(page.getByLabel('Date range')).toHaveValue('7d');
	});

	await test.step('endpoints', async () => {
		await nav(page, 'Endpoints');
		const table = page.getByTestId('endpoints-table');
		await expect(table).toContainText('/users/{id}');
		await expect(table).toContainText('/products');
		await shot(page, 'endpoints');
	});

	await test.step('requests explorer: filters, click any value, detail drawer', async () => {
		await nav(page, 'Requests');
		await expect(page).toHaveURL(/\/requests\?period=7d/);
		const rows = page.getByTestId('request-row');
		await expect(rows).toHaveCount(24);
		await expect(page.getByRole('img', { name: 'Bot: Googlebot' }).first()).toBeVisible();
		await shot(page, 'requests');
		await rows.getByRole('button', { name: '/products', exact: true }).first().click();
		await expect(page.getByTestId('filter-chip')).toContainText('Path is /products');
		await expect(rows).toHaveCount(6);
		await page.getByLabel('Search requests').fill('products');
		await page.getByRole('button', { name: 'Search', exact: true }).click();
		await expect(page.getByTestId('filter-chip')).toHaveCount(2);
		await page.getByRole('button', { name: 'Clear all' }).click();
		await page.getByLabel('Search requests').fill('shoes');
		await page.keyboard.press('Enter');
		await expect(rows).toHaveCount(3);
		const download = page.waitForEvent('download');
		await page.getByRole('button', { name: 'Download CSV' }).click();
		const text = readFileSync((await (await download).path()) ?? '', 'utf8');
		expect(text.split('\r\n')[0]).toContain('timestamp,method,url');
		expect(text).toContain('shoes');
		await rows
			.first()
			.getByRole('button', { name: /Details of request/ })
			.click();
		const drawer = page.getByRole('dialog', { name: 'Request details' });
		await expect(drawer.getByTestId('parsed-ua')).toContainText('Googlebot');
		await expect(drawer.getByTestId('query-params')).toContainText('shoes');
		await shot(page, 'request-detail');
		await page.keyboard.press('Escape');
		await expect(drawer).toHaveCount(0);
		await page.getByRole('button', { name: 'Clear all' }).click();
	});

	await test.step('bots', async () => {
		await nav(page, 'Bots');
		const cards = page.getByTestId('bot-card');
		await expect(cards.filter({ hasText: 'Googlebot' })).toBeVisible();
		await expect(cards.filter({ hasText: 'GPTBot' })).toBeVisible();
		await page.getByRole('tab', { name: /AI crawlers/ }).click();
		await expect(cards).toHaveCount(1);
		await page.getByRole('tab', { name: /^All/ }).click();
		await shot(page, 'bots');
	});

	await test.step('events feed', async () => {
		await nav(page, 'Events');
		await expect(page.getByTestId('events-feed')).toContainText('/orders/{id}');
		await expect(page.getByTestId('events-feed')).toContainText('Googlebot');
		await shot(page, 'events');
	});

	await test.step('live tail receives new requests', async () => {
		await nav(page, 'Live');
		await expect(page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();
		sendEvents(key, 8);
		await expect(page.getByTestId('live-table')).toContainText('/users/42');
		await shot(page, 'live');
	});

	await test.step('API keys: create (shown once, copy), revoke with confirmation', async () => {
		await nav(page, 'API keys');
		const health = page.getByTestId('ingest-health');
		await expect(health).toContainText('Stored');
		await expect(health.locator('dd').first()).not.toHaveText('0');
		await page.getByLabel('Key name').fill('staging');
		await page.getByRole('button', { name: 'Create key' }).click();
		await expect(page.getByTestId('new-key')).toBeVisible();
		await expect(page.getByRole('button', { name: 'Copy key' })).toBeVisible();
		await shot(page, 'apikeys');
		await page.getByRole('button', { name: 'Done' }).click();
		await expect(page.getByTestId('new-key')).toHaveCount(0);
		await page.getByRole('button', { name: 'Revoke staging' }).click();
		await page.getByRole('button', { name: 'Revoke key' }).click();
		await expect(page.getByTestId('keys-table')).not.toContainText('staging');
	});

	await test.step('project settings and members', async () => {
		await nav(page, 'Settings');
		await page.getByLabel('Keep raw requests for (days)').fill('14');
		await page.getByRole('button', { name: 'Save' }).click();
		await expect(
			page.getByRole('status').filter({ hasText: 'Project settings saved' })
		).toBeVisible();
		await page.getByLabel('Email', { exact: true }).fill('grace@example.com');
		await page.getByRole('button', { name: 'Invite' }).click();
		await expect(page.getByText('grace@example.com').first()).toBeVisible();
		inviteLink = (await page.getByTestId('invite-link').textContent())?.trim() ?? '';
		expect(inviteLink).toContain('/invitations/accept#token=');
		await shot(page, 'settings');
	});

	await test.step('the invitee signs up through the link and joins as a member', async () => {
		const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 } });
		const grace = await ctx.newPage();
		watchConsole(grace, errors);
		await grace.goto(inviteLink.replace(/^https?:\/\/[^/]+/, base()));
		await expect(grace).toHaveURL(/\/login\?next=/);
		await grace.getByRole('link', { name: 'Create an account' }).click();
		await grace.getByLabel('Name').fill('Grace Hopper');
		await grace.getByLabel('Email').fill('grace@example.com');
		await grace.getByLabel('Password').fill('another long passphrase 7');
		await grace.getByRole('button', { name: 'Create account' }).click();
		await expect(grace).toHaveURL(new RegExp(`${projectPath}$`));
		await expect(grace.getByTestId('kpis')).toBeVisible();
		await ctx.close();
		await page.reload();
		await expect(page.getByLabel('Role of grace@example.com')).toHaveValue('member');
	});

	let secret = '';
	let recoveryCode = '';
	let usedStep = 0;
	await test.step('2FA enrolment with QR and recovery codes', async () => {
		await page.goto(`${base()}/account`);
		await page.getByRole('button', { name: 'Set up 2FA' }).click();
		await expect(page.getByRole('img', { name: /QR code/ })).toBeVisible();
		secret = (await page.getByTestId('totp-secret').textContent())?.trim() ?? '';
		await page.getByLabel('Code from your app').fill(totp(secret));
		await page.getByRole('button', { name: 'Turn on' }).click();
		await expect(page.getByTestId('recovery-codes').locator('li')).not.toHaveCount(0);
		recoveryCode =
			(await page.getByTestId('recovery-codes').locator('li').first().textContent()) ?? '';
		await shot(page, 'account-2fa');
	});

	await test.step('second sign-in asks for and accepts a code', async () => {
		const step = Math.floor(Date.now() / 30_000);
		await page.goto(`${base()}${projectPath}`);
		await page.getByRole('button', { name: 'Sign out' }).click();
		await expect(page).toHaveURL(/\/login/);
		await page.getByLabel('Email').fill(user.email);
		await page.getByLabel('Password').fill(user.password);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await expect(page.getByRole('heading', { name: 'Two-factor authentication' })).toBeVisible();
		// A code is accepted once: wait for a fresh time step rather than replaying enrolment's.
		while (Math.floor(Date.now() / 30_000) === step) await page.waitForTimeout(500);
		usedStep = Math.floor(Date.now() / 30_000);
		await page.getByLabel('Code from your authenticator app').fill(totp(secret));
		await page.getByRole('button', { name: 'Verify' }).click();
		await expect(page).toHaveURL(/\/p\/\d+/);
		await expect(page.getByTestId('kpis')).toBeVisible();
	});

	await test.step('a recovery code also completes the second step', async () => {
		await page.getByRole('button', { name: 'Sign out' }).click();
		await expect(page).toHaveURL(/\/login/);
		await page.getByLabel('Email').fill(user.email);
		await page.getByLabel('Password').fill(user.password);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
		await page.getByLabel('Recovery code').fill(recoveryCode.trim());
		await page.getByRole('button', { name: 'Verify' }).click();
		await expect(page.getByTestId('kpis')).toBeVisible();
	});

	await test.step('session survives a reload (refresh cookie), dark mode and 375 px', async () => {
		await page.reload();
		await expect(page.getByTestId('kpis').locator('.value').first()).not.toHaveText('–');
		const dark = await browser.newPage({
			colorScheme: 'dark',
			viewport: { width: 1360, height: 900 }
		});
		watchConsole(dark, errors);
		await dark.goto(`${base()}/login`);
		await expect(dark.locator('html')).toHaveAttribute('data-theme', 'dark');
		await dark.getByRole('link', { name: 'Forgot password?' }).click();
		await expect(dark.getByRole('heading', { name: 'Reset your password' })).toBeVisible();
		await dark.getByLabel('Email').fill(user.email);
		await dark.getByRole('button', { name: 'Send reset link' }).click();
		await expect(dark.getByRole('status')).toContainText('If an account exists');
		await dark.goto(`${base()}/reset-password#token=not-a-real-token`);
		await expect(dark.getByLabel('New password')).toBeVisible();
		await dark.close();
		await page.setViewportSize({ width: 375, height: 800 });
		await page.reload();
		await expect(page.getByTestId('kpis')).toBeVisible();
		const overflow = await page.evaluate(
			() => document.documentElement.scrollWidth - document.documentElement.clientWidth
		);
		expect(overflow).toBeLessThanOrEqual(0);
		await shot(page, 'mobile');
		await page.setViewportSize({ width: 1360, height: 900 });
	});

	await test.step('README screenshots with a day of history', async () => {
		sendEvents(key, '--history', '24');
		await page.goto(`${base()}${projectPath}`);
		await expect(page.getByTestId('kpis').locator('.value').first()).not.toHaveText('32');
		await shot(page, 'dashboard');
		await page.screenshot({ path: resolve(images, 'dashboard-full.png'), fullPage: true });
		await nav(page, 'Requests');
		await expect(page.getByTestId('request-row')).toHaveCount(100);
		await shot(page, 'requests');
		await nav(page, 'Bots');
		await expect(page.getByTestId('bot-card')).toHaveCount(2);
		await shot(page, 'bots');
		await nav(page, 'Endpoints');
		await shot(page, 'endpoints');
		await page.emulateMedia({ colorScheme: 'dark' });
		await nav(page, 'Overview');
		await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
		await shot(page, 'dashboard-dark');
		await page.emulateMedia({ colorScheme: 'light' });
	});

	await test.step('revoke the onboarding key: the collector refuses it', async () => {
		await nav(page, 'API keys');
		await page.getByRole('button', { name: 'Revoke Default key' }).click();
		await page.getByRole('button', { name: 'Revoke key' }).click();
		await expect(
			page.getByTestId('keys-table').or(page.getByText('No keys yet.'))
		).not.toContainText('Default key');
		const res = await fetch(`${base()}/api/log`, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json', 'X-API-KEY': key },
			body: JSON.stringify({ url: 'https://api.example.com/after-revoke', status_code: 200 })
		});
		expect(res.status).toBe(401);
	});

	await test.step('transferring ownership asks for the password and a 2FA code', async () => {
		await nav(page, 'Settings');
		await page.getByLabel('New owner').selectOption({ label: 'grace@example.com' });
		await page.getByRole('button', { name: 'Transfer ownership' }).click();
		const dialog = page.getByRole('dialog', { name: 'Make grace@example.com the owner?' });
		await expect(dialog.getByLabel('Your password')).toBeVisible();
		// A code is accepted once: do not reuse the one from the second sign-in.
		while (Math.floor(Date.now() / 30_000) === usedStep) await page.waitForTimeout(500);
		await dialog.getByLabel('Your password').fill(user.password);
		await dialog.getByLabel('Code from your authenticator app').fill(totp(secret));
		await dialog.getByRole('button', { name: 'Transfer ownership' }).click();
		await expect(
			page.getByRole('status').filter({ hasText: 'grace@example.com now owns this project' })
		).toBeVisible();
		await expect(page.getByLabel('Role of grace@example.com')).toHaveValue('owner');
		await expect(page.getByLabel(`Role of ${user.email}`)).toHaveValue('admin');
		await expect(page.getByRole('button', { name: 'Delete project' })).toHaveCount(0);
	});

	expect(errors, errors.join('\n')).toEqual([]);
});
