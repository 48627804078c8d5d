// Kept in step with package.json by test/version.test.ts; the agent bundle cannot read package.json.
export const VERSION = '0.1.0';
