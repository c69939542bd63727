/** API shapes, all from the generated `schema.d.ts` (run `npm run gen:api` after API changes). */
import type { components } from './schema';

type S = components['schemas'];
export type User = S['User'];
export type Token = S['Token'];
export type Project = S['Project'];
export type Role = S['Role'];
export type ApiKey = S['ApiKey'];
export type ApiKeyCreated = S['ApiKeyCreated'];
export type IngestOutcomes = S['IngestOutcomes'];
export type OutcomeCounts = S['OutcomeCounts'];
export type Member = S['Member'];
export type Invitation = S['Invitation'];
export type SessionInfo = S['Session'];
export type TotpSetup = S['TotpSetup'];
export type Summary = S['Summary'];
export type Period = S['Period'];
export type Timeline = S['Timeline'];
export type EndpointStats = S['EndpointStats'];
export type StatusCodeStats = S['StatusCodeStats'];
export type NamedCount = S['NamedCount'];
export type UserAgentStats = S['UserAgentStats'];
export type CountryStats = S['CountryStats'];
export type Bot = S['BotCard'];
export type BotList = S['BotList'];
export type AppEvent = S['Event'];
export type ParsedUserAgent = S['ParsedUserAgent'];
export type RequestDetail = S['RequestDetail'];
/** A request-explorer row; the raw user agent and query ride along when the list carries them. */
export type RequestRow = S['RequestItem'] & {
	user_agent?: string | ParsedUserAgent | null;
	query_params?: Record<string, string[] | string> | null;
};

export interface Page<T> {
	items: T[];
	total?: number;
	next_cursor?: string | null;
}
