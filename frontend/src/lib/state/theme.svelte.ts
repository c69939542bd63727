export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'whowhywhen-theme';

class Theme {
	choice = $state<ThemeChoice>('system');
	systemDark = $state(false);
	dark = $derived(this.choice === 'dark' || (this.choice === 'system' && this.systemDark));

	init() {
		const saved = localStorage.getItem(KEY);
		if (saved === 'light' || saved === 'dark') this.choice = saved;
		const mq = matchMedia('(prefers-color-scheme: dark)');
		this.systemDark = mq.matches;
		mq.addEventListener('change', (e) => (this.systemDark = e.matches));
	}

	set(choice: ThemeChoice) {
		this.choice = choice;
		if (choice === 'system') localStorage.removeItem(KEY);
		else localStorage.setItem(KEY, choice);
	}

	cycle() {
		this.set(this.choice === 'system' ? 'dark' : this.choice === 'dark' ? 'light' : 'system');
	}
}

export const theme = new Theme();
