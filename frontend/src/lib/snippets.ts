/** Integration snippets filled with the real key and URL (pure, unit-tested). */

export const FRAMEWORKS = ['fastapi', 'flask', 'django', 'express', 'curl'] as const;
export type Framework = (typeof FRAMEWORKS)[number];
export const FRAMEWORK_LABELS: Record<Framework, string> = {
	fastapi: 'FastAPI',
	flask: 'Flask',
	django: 'Django',
	express: 'Express',
	curl: 'curl'
};

const pyStr = (s: string) => JSON.stringify(s);

export function snippet(fw: Framework, key: string, baseUrl: string): string {
	const url = baseUrl.replace(/\/+$/, '');
	switch (fw) {
		case 'fastapi':
			return `# pip install whowhywhen-sdk
from fastapi import FastAPI
from whowhywhen_sdk import WhoWhyWhenMiddleware

app = FastAPI()
app.add_middleware(
    WhoWhyWhenMiddleware,
    api_key=${pyStr(key)},
    url=${pyStr(url)},
)`;
		case 'flask':
			return `# pip install whowhywhen-sdk
from flask import Flask
from whowhywhen_sdk import WhoWhyWhenWSGIMiddleware

app = Flask(__name__)
app.wsgi_app = WhoWhyWhenWSGIMiddleware(
    app.wsgi_app,
    api_key=${pyStr(key)},
    url=${pyStr(url)},
)`;
		case 'django':
			return `# pip install whowhywhen-sdk
# settings.py
MIDDLEWARE = [
    "whowhywhen_sdk.WhoWhyWhenDjangoMiddleware",
    # ... your other middleware
]
WHOWHYWHEN = {
    "api_key": ${pyStr(key)},
    "url": ${pyStr(url)},
}`;
		case 'express':
			return `// npm install whowhywhen
const express = require('express');
const { whowhywhen } = require('whowhywhen');

const app = express();
const ww = whowhywhen({ apiKey: ${JSON.stringify(key)}, url: ${JSON.stringify(url)} });
app.use(ww); // first, so every route is timed
// ... your routes ...
app.use(ww.errorHandler); // optional: records exception types`;
		case 'curl':
			return `curl -X POST ${shellQuote(`${url}/api/log`)} \\
  -H ${shellQuote(`X-API-KEY: ${key}`)} \\
  -H 'Content-Type: application/json' \\
  -d '{"url": "https://example.com/hello?from=curl", "method": "GET", "status_code": 200, "duration": 0.042, "user_agent": "curl/8.5.0"}'`;
	}
}

export function shellQuote(s: string): string {
	return `'${s.replace(/'/g, `'\\''`)}'`;
}
